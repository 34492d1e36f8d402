#!/bin/sh
# /init of the wifivm test VM. It loads three simulated radios: the AP's,
# a station's (in network namespace "sta") and an intruder's (in "bad").
# For each case it brings up the access point (devmgr provision, or the
# configs devmgr rendered on the host), associates the station, takes a
# DHCP lease, resolves the device's name, checks that `devmgr ap status`
# lists the station with its lease, and, where the case has one, checks that
# the intruder with a wrong passphrase is refused. One "CASE <name> PASS" or
# "CASE <name> FAIL: <reason>" line per result goes to the console. Every
# wait is bounded; the VM powers off at the end or at its deadline.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/netns /run/dnsmasq /run/hostapd /run/devmgr /var/lib/misc
. /etc/wifivm/env

say() { echo "wifivm: [$(cut -d' ' -f1 /proc/uptime)] $*"; }
finish() {
	say "$*"
	echo "WIFIVM DONE"
	poweroff -f
	sleep 10
}
abort() {
	echo "WIFIVM ABORT: $*"
	finish "aborted"
}
( sleep "$VM_DEADLINE"; echo "WIFIVM ABORT: deadline of ${VM_DEADLINE}s passed"; poweroff -f ) &

# wait_for, show: the VM tests' shared helpers.
. /etc/wifivm/lib.sh

say "kernel $(uname -r), loading modules"
while read -r ko params; do
	# A module that does not load (crc32c-intel without SSE4.2, say) is
	# reported; whatever needed it fails its own check below.
	insmod "/lib/modules/$ko" $params || say "insmod $ko $params failed"
done < /etc/wifivm/modules
wait_for 10 test -e /sys/class/ieee80211/phy2 || abort "no phy2 after loading mac80211_hwsim"
wait_for 5 test -e "/sys/class/net/$AP_IF" || abort "no $AP_IF"
/sbin/ip link set lo up

# netns_radio NS PHY: move a radio into a new network namespace and print
# its interface's name.
netns_radio() {
	/sbin/ip netns add "$1" || abort "ip netns add $1"
	iw phy "$2" set netns name "$1" || abort "moving $2 into netns $1"
	/sbin/ip -n "$1" link set lo up
	/sbin/ip netns exec "$1" ls /sys/class/net | grep -v '^lo$' | head -n 1
}
# The station (phy1) and the intruder with a wrong passphrase (phy2).
STA=$(netns_radio sta phy1)
[ -n "$STA" ] || abort "no station interface in netns sta"
STA_MAC=$(/sbin/ip netns exec sta cat "/sys/class/net/$STA/address")
BAD=$(netns_radio bad phy2)
[ -n "$BAD" ] || abort "no intruder interface in netns bad"
say "AP $AP_IF $(cat /sys/class/net/$AP_IF/address), station $STA $STA_MAC in netns sta, intruder $BAD in netns bad, setup $SETUP"

STA_NAME=wifivm-sta
HOSTAPD_PID=
DNSMASQ_PID=
PROV_PID=
AP_CONF=
WPA_PID=
BAD_PID=

ap_enabled() {
	hostapd_cli -p "$CTRL_DIR" -i "$AP_IF" status 2>/dev/null | grep -qx 'state=ENABLED'
}
ap_state() {
	hostapd_cli -p "$CTRL_DIR" -i "$AP_IF" status 2>&1 | grep '^state=' || echo "no answer on $CTRL_DIR/$AP_IF"
}
sta_state() {
	wpa_cli -p /run/wpa_sta -i "$STA" status 2>/dev/null | sed -n 's/^wpa_state=//p'
}
sta_completed() { [ "$(sta_state)" = COMPLETED ]; }
bad_completed() { wpa_cli -p /run/wpa_bad -i "$BAD" status 2>/dev/null | grep -qx wpa_state=COMPLETED; }
# bad_refused: wpa_supplicant's own words for a refused key: the 4-way
# handshake failed (WPA-PSK), or the AP rejected its SAE confirm.
bad_refused() {
	grep -q -e "reason=WRONG_KEY" -e "pre-shared key may be incorrect" \
		-e "AUTH-REJECT .*auth_type=3 auth_transaction=2 status_code=1$" /tmp/wpa-bad.log
}
bad_done() { bad_refused || bad_completed; }

# gone PID: the process has exited (a zombie counts: it is reaped by wait).
gone() {
	s=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)
	[ -z "$s" ] || [ "$s" = Z ]
}
# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 3).
stop_pid() {
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null
	wait_for "${2:-3}" gone "$1" || kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# provision_done: devmgr provision exited, or (without systemd) started
# the services and stays in the foreground supervising them.
provision_done() {
	gone "$PROV_PID" || grep -q "^supervising " /tmp/provision.log
}

# provision DIR: install the case's config where a device keeps it, and
# let devmgr provision render, check and install everything from it and, as
# there is no systemd, start and supervise hostapd and dnsmasq.
provision() {
	cp "$1/devmgr.yaml" /etc/devmgr/devmgr.yaml
	say "devmgr provision"
	devmgr provision --root / >/tmp/provision.log 2>&1 &
	PROV_PID=$!
	if ! wait_for 90 provision_done; then
		REASON="devmgr provision neither finished nor reported hostapd and dnsmasq running in 90 s"
		return 1
	fi
	if gone "$PROV_PID"; then
		wait "$PROV_PID"
		rc=$?
		PROV_PID=
		if [ "$rc" != 0 ]; then
			REASON="devmgr provision exited with status $rc: $(grep -v '^[-+@ ]' /tmp/provision.log | tail -n 4 | tr '\n' ' ')"
			return 1
		fi
	fi
	say "devmgr provision done"
	if [ -n "$WIFIVM_DEBUG" ]; then
		grep -v '^[-+@ ]' /tmp/provision.log | sed 's/^/  | /'
	fi
}

# start_ap DIR: bring the AP up with the case's config.
start_ap() {
	case "$SETUP" in
	provision)
		# Without systemd, devmgr provision supervises the services in the
		# foreground; a changed config means stopping it (its children,
		# hostapd and dnsmasq, end with it) and provisioning again.
		if [ -n "$PROV_PID" ]; then
			stop_pid "$PROV_PID" 10
			PROV_PID=
			say "previous devmgr provision stopped"
		fi
		provision "$1" || return 1
		;;
	direct)
		stop_pid "$HOSTAPD_PID"
		stop_pid "$DNSMASQ_PID"
		HOSTAPD_PID= DNSMASQ_PID=
		cp "$1/hostapd.conf" /etc/hostapd/devmgr.conf
		cp "$1/dnsmasq.conf" /etc/devmgr/dnsmasq.conf
		/sbin/ip addr flush dev "$AP_IF"
		/sbin/ip addr add "$AP_ADDR/24" dev "$AP_IF"
		hostapd /etc/hostapd/devmgr.conf >/tmp/hostapd.log 2>&1 &
		HOSTAPD_PID=$!
		dnsmasq --keep-in-foreground --log-facility=- --log-dhcp --conf-file=/etc/devmgr/dnsmasq.conf >/tmp/dnsmasq.log 2>&1 &
		DNSMASQ_PID=$!
		;;
	esac
	if ! wait_for 30 ap_enabled; then
		REASON="hostapd did not reach state=ENABLED: $(ap_state)"
		return 1
	fi
	# The running hostapd must have the case's security, not a previous one.
	km=$(hostapd_cli -p "$CTRL_DIR" -i "$AP_IF" get_config 2>&1 | sed -n 's/^key_mgmt=//p' | tr -s ' ' | sed 's/ *$//')
	if [ "$km" != "$(cat "$1/ap_key_mgmt")" ]; then
		REASON="hostapd runs key_mgmt '$km', want '$(cat "$1/ap_key_mgmt")'"
		return 1
	fi
	say "hostapd ENABLED, key_mgmt $km"
}

# run_case DIR: the checks of one case; sets REASON and returns 1 on failure.
run_case() {
	dir=$1
	# A case with the same config as the one before keeps the running AP.
	if [ -n "$AP_CONF" ] && cmp -s "$AP_CONF" "$dir/devmgr.yaml"; then
		say "AP config unchanged, AP kept"
	else
		AP_CONF=
		start_ap "$dir" || return 1
		AP_CONF="$dir/devmgr.yaml"
	fi
	rm -f "/tmp/lease.$STA" /tmp/wpa.log /tmp/wpa-bad.log
	/sbin/ip netns exec sta wpa_supplicant -i "$STA" -c "$dir/sta.conf" >/tmp/wpa.log 2>&1 &
	WPA_PID=$!
	if ! wait_for 45 sta_completed; then
		REASON="station did not reach wpa_state=COMPLETED in 45 s (wpa_state=$(sta_state))"
		return 1
	fi
	# The intruder tries while the station takes its lease; started together
	# they slow each other's handshakes down under emulation.
	if [ -f "$dir/bad.conf" ]; then
		/sbin/ip netns exec bad wpa_supplicant -i "$BAD" -c "$dir/bad.conf" >/tmp/wpa-bad.log 2>&1 &
		BAD_PID=$!
	fi
	say "station associated: $(wpa_cli -p /run/wpa_sta -i "$STA" status | grep -E '^(key_mgmt|pairwise_cipher|pmf)=' | tr '\n' ' ')"
	# dnsmasq pings a new address for about 3 s before it offers it, and the
	# first discover after association is often lost: udhcpc re-sends.
	timeout 30 /sbin/ip netns exec sta udhcpc -i "$STA" -x hostname:"$STA_NAME" -f -n -q -t 20 -T 1 -A 1 -s /etc/wifivm/udhcpc.script >/tmp/udhcpc.log 2>&1
	IP=$(cat "/tmp/lease.$STA" 2>/dev/null)
	if [ -z "$IP" ]; then
		REASON="no DHCP lease: $(tail -n 2 /tmp/udhcpc.log | tr '\n' ' ')"
		return 1
	fi
	say "lease $IP"
	out=$(timeout 10 /sbin/ip netns exec sta nslookup "$FQDN" "$AP_ADDR" 2>&1)
	got=$(echo "$out" | awk '/^Name:/ {n = 1} n && /^Address/ {sub(/.*: */, ""); print; exit}')
	if [ "$got" != "$AP_ADDR" ]; then
		REASON="nslookup $FQDN @$AP_ADDR gave '$got', want $AP_ADDR: $(echo "$out" | tr '\n' ' ')"
		return 1
	fi
	say "$FQDN is $got"
	n=0
	while :; do
		if [ "$SETUP" = direct ]; then # no agent runs: read hostapd itself
			st=$(timeout 10 devmgr ap status --direct --ctrl-dir "$CTRL_DIR" --iface "$AP_IF" --leases "$LEASES" 2>&1)
		else # the agent's AP status, over its socket
			st=$(timeout 10 devmgr ap status 2>&1)
		fi
		echo "$st" | grep -qi "^$STA_MAC $IP $STA_NAME " && break
		n=$((n + 1))
		if [ $n -ge 10 ]; then
			REASON="the agent's AP status (devmgr ap status) does not list '$STA_MAC $IP $STA_NAME': $(echo "$st" | tr '\n' ' ')"
			return 1
		fi
		sleep 0.5
	done
	say "ap status: $(echo "$st" | grep -i "^$STA_MAC")"
	return 0
}

# check_intruder NAME: the intruder's result line, once it has been
# refused (or, wrongly, let in).
check_intruder() {
	if [ -z "$BAD_PID" ]; then
		echo "CASE $1-wrong-passphrase FAIL: not run: ${REASON:-no AP}"
		return
	fi
	wait_for 30 bad_done
	if bad_completed; then
		echo "CASE $1-wrong-passphrase FAIL: a station with a wrong passphrase completed its handshake"
	elif bad_refused; then
		say "intruder refused: $(grep -m 1 -e WRONG_KEY -e AUTH-REJECT /tmp/wpa-bad.log)"
		echo "CASE $1-wrong-passphrase PASS"
	else
		show /tmp/wpa-bad.log
		echo "CASE $1-wrong-passphrase FAIL: the station with a wrong passphrase was neither refused for its key nor let in within 30 s"
	fi
}

# end_case: disconnect the stations so the next case starts clean.
end_case() {
	stop_pid "$WPA_PID"
	stop_pid "$BAD_PID"
	WPA_PID= BAD_PID=
	/sbin/ip -n sta addr flush dev "$STA" 2>/dev/null
}

for dir in /etc/wifivm/cases/*; do
	name=$(cat "$dir/name")
	REASON=
	say "case $name"
	if run_case "$dir"; then
		echo "CASE $name PASS"
	else
		show /tmp/provision.log
		show /tmp/hostapd.log
		show /tmp/dnsmasq.log 8
		show /tmp/wpa.log
		show /tmp/udhcpc.log 5
		echo "CASE $name FAIL: $REASON"
	fi
	[ -f "$dir/bad.conf" ] && check_intruder "$name"
	end_case
done
finish "all cases run"
