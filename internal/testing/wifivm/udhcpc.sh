#!/bin/sh
# udhcpc event script of the wifivm station: apply the lease and note the address.
case "$1" in
deconfig)
	/sbin/ip addr flush dev "$interface"
	/sbin/ip link set "$interface" up
	;;
bound|renew)
	/sbin/ip addr flush dev "$interface"
	/sbin/ip addr add "$ip/${mask:-24}" dev "$interface"
	echo "$ip" > "/tmp/lease.$interface"
	;;
esac
exit 0
