#!/bin/sh
# /init of the freshvm initramfs: load the modules the root disk needs,
# mount it (/dev/vda, ext4) and hand the machine to systemd.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r ko params; do
	insmod "/lib/modules/$ko" $params || echo "freshvm initramfs: insmod $ko $params failed"
done </etc/freshvm/modules
i=0
while [ ! -b /dev/vda ] && [ "$i" -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
mkdir -p /newroot
if ! mount -t ext4 -o rw /dev/vda /newroot; then
	echo "FRESHVM ABORT: cannot mount the root disk /dev/vda"
	poweroff -f
fi
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
