#!/usr/bin/env bash
# make run: `devmgr-dev run` does the work (cmd/devmgr-dev, internal/testing/devrun).
#   as root: a network-namespace lab with a stand-in access point (hostapd's control
#            protocol, no radio: `make test` proves the real one in a VM), `devmgr agent`
#            in its device namespace, `devmgr serve` here as the unprivileged user devmgr
#            (created if missing);
#   not root: the console alone, as you, with the agent off.
# Console on https://127.0.0.1:$PORT (default 8443), everything under ./var; Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
exec ./bin/devmgr-dev run --devmgr ./bin/devmgr --dir ./var --listen "127.0.0.1:${PORT:-8443}" "$@"
