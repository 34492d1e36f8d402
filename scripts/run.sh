#!/usr/bin/env bash
# make run: `devmgr-dev run` does the work (cmd/devmgr-dev, internal/testing/devrun).
#   as root: a network-namespace lab with a stand-in access point (hostapd's control
#            protocol, no radio: `make test` proves the real one in a VM), `devmgr agent`
#            in its device namespace, `devmgr serve` here as the unprivileged user devmgr
#            (created if missing);
#   not root: the console alone, as you, with the agent off.
# Console on https://127.0.0.1:$PORT (default 8443), everything under ./var; Ctrl-C stops it all.
# DEVICE=vm: the fresh-install VM instead (devmgr-dev vm): Debian with the package from bin/deb
#            installed and set up, real hostapd and dnsmasq over simulated radios, two stations.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${DEVICE:-}" == vm ]]; then
  exec ./bin/devmgr-dev vm --debs ./bin/deb --dir ./var/vm --listen "127.0.0.1:${PORT:-8443}" "$@"
fi
exec ./bin/devmgr-dev run --devmgr ./bin/devmgr --dir ./var --listen "127.0.0.1:${PORT:-8443}" "$@"
