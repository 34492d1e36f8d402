#!/bin/sh
# The payload's entry point (freshvm-run starts it once the boot has
# finished): the first boot installs and sets up (install.sh), the next one
# checks (checks.sh). /var/lib/freshvm/stage on the root disk says which.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
P=/mnt/payload
. $P/env
. $P/lib.sh
mkdir -p /var/lib/freshvm
stage=$(cat /var/lib/freshvm/stage 2>/dev/null || echo install)
say "boot into stage $stage, system $(systemctl is-system-running 2>&1)"
if [ "$STAGE_DEADLINE" -gt 0 ]; then
	(
		sleep "$STAGE_DEADLINE"
		echo "FRESHVM ABORT: stage $stage passed its deadline of ${STAGE_DEADLINE}s"
		systemctl poweroff --force --force
	) &
fi
case "$stage" in
install) . $P/install.sh ;;
checks) . $P/checks.sh ;;
demo) . $P/demo.sh ;;
*) echo "FRESHVM ABORT: unknown stage $stage" ;;
esac
echo "FRESHVM DONE"
# The results are out and the disk is a throwaway copy: no unit needs
# stopping (a clean shutdown costs seconds under emulation).
sync
systemctl poweroff --force --force
