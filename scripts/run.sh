#!/usr/bin/env bash
# make run: the console on the embedded defaults plus deploy/devmgr.dev.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
exec ./bin/devmgr serve --config deploy/devmgr.dev.yaml
