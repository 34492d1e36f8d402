#!/bin/sh
# udhcpc event script of a VM test's WiFi station: apply the lease (address
# and default route) and note the address in /tmp/lease.<interface>.
case "$1" in
deconfig)
	/sbin/ip addr flush dev "$interface"
	/sbin/ip link set "$interface" up
	;;
bound|renew)
	/sbin/ip addr flush dev "$interface"
	/sbin/ip addr add "$ip/${mask:-24}" dev "$interface"
	for r in $router; do
		/sbin/ip route replace default via "$r" dev "$interface"
		break
	done
	echo "$ip" > "/tmp/lease.$interface"
	;;
esac
exit 0
