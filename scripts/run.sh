#!/usr/bin/env bash
# make run: the console on the embedded defaults plus deploy/devmgr.dev.yaml:
# data under ./var, https://127.0.0.1:8443, a self-signed certificate.
set -euo pipefail
cd "$(dirname "$0")/.."
config=deploy/devmgr.dev.yaml
echo "devmgr console: https://127.0.0.1:8443  (self-signed certificate: accept it in the browser)"
if [[ -f var/initial-admin-password ]]; then
  echo "first sign-in: user admin, password in var/initial-admin-password"
else
  echo "on a first start devmgr creates user admin and writes its password to var/initial-admin-password"
fi
exec ./bin/devmgr serve --config "$config"
