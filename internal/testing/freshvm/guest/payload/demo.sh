# The demo (make run DEVICE=vm): the device as set up, its console
# forwarded to the host (qemu's user network: this VM is 10.0.2.15 on
# eth0, neither an uplink nor a LAN interface), and two stations kept
# associated over the simulated radio, WPA2 and WPA3-SAE, each in a
# network namespace of its own. It runs until the VM is stopped.
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
for i in 1 2; do
	ns=sta$i
	phy=$(cat /sys/class/net/wlan$i/phy80211/name)
	/sbin/ip netns add $ns
	iw phy "$phy" set netns name $ns
	/sbin/ip -n $ns link set lo up
	dev=$(/sbin/ip netns exec $ns ls /sys/class/net | grep -v '^lo$' | head -n 1)
	/sbin/ip netns exec $ns wpa_supplicant -B -i "$dev" -c $P/demo-sta$i.conf
	# udhcpc stays, renewing the lease, with a name the console shows.
	/sbin/ip netns exec $ns busybox udhcpc -b -i "$dev" -x hostname:demo-station-$i -s $P/udhcpc.sh >/dev/null 2>&1
	eval "DEV$i=$dev"
done
leased() { [ -s "/tmp/lease.$DEV1" ] && [ -s "/tmp/lease.$DEV2" ]; }
wait_for 60 leased || say "not every station has a lease yet"
say "stations: $(cat /tmp/lease.$DEV1 2>/dev/null) (WPA2), $(cat /tmp/lease.$DEV2 2>/dev/null) (WPA3-SAE)"
timeout 20 devmgr ap status 2>&1 | sed 's/^/  | /'
echo "FRESHVM DEMO READY admin-password=$(cat /var/lib/devmgr/initial-admin-password 2>/dev/null)"
while :; do sleep 3600; done
