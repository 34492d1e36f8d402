#!/bin/sh
# freshvm-run: the test runner unit's program, in the image. Once the boot
# has finished it runs the payload disk's (/dev/vdb) run.sh. Everything
# goes to the second serial port, which no getty touches.
exec >/dev/ttyS1 2>&1
systemctl is-system-running --wait >/dev/null 2>&1
mkdir -p /mnt/payload
if ! mount -o ro /dev/vdb /mnt/payload; then
	echo "FRESHVM ABORT: no payload disk /dev/vdb"
	systemctl poweroff --force --force
fi
exec sh /mnt/payload/run.sh
