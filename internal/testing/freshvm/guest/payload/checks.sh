# The boot after setup: the device as its owner meets it. One CASE line per
# item; every wait is bounded.

# --- services after the reboot -------------------------------------------
all_active() {
	for u in $UNITS; do
		[ "$(systemctl is-active "$u")" = active ] || return 1
	done
}
wait_for 30 all_active
bad=
for u in $UNITS; do
	en=$(systemctl is-enabled "$u" 2>&1)
	act=$(systemctl is-active "$u" 2>&1)
	[ "$en" = enabled ] && [ "$act" = active ] || bad="$bad; $u is $en and $act"
done
if [ -z "$bad" ]; then
	pass units-enabled-active
else
	for u in $UNITS; do journalctl -b -u "$u" --no-pager -n 8 -o cat 2>&1 | sed "s/^/  | $u: /"; done
	fail units-enabled-active "${bad#; }"
fi
state=$(systemctl is-system-running 2>&1)
failed=$(systemctl list-units --failed --plain --no-legend 2>&1 | awk '{print $1}' | tr '\n' ' ')
case "$failed" in
*devmgr*) fail system-not-degraded "is-system-running: $state; failed units: $failed" ;;
*) pass system-not-degraded "is-system-running: $state${failed:+; failed, not devmgr's: $failed}" ;;
esac

# --- the console ---------------------------------------------------------
say "the console"
code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 10 https://127.0.0.1/healthz)
if [ "$code" = 200 ]; then pass console-https; else fail console-https "GET https://127.0.0.1/healthz answered '$code'"; fi

# The first admin signs in with the generated password and must choose a
# new one before anything else is served.
console_login() {
	PW=$(cat /var/lib/devmgr/initial-admin-password 2>/dev/null)
	[ -n "$PW" ] || { REASON="no /var/lib/devmgr/initial-admin-password"; return 1; }
	rm -f /tmp/jar
	# Password hashing (argon2id) is slow under emulation.
	resp=$(curl -sk -c /tmp/jar --max-time 60 -H 'Content-Type: application/json' \
		-d "{\"username\":\"admin\",\"password\":\"$PW\"}" https://127.0.0.1/api/v1/login)
	echo "$resp" | grep -q '"must_change_password": *true' || { REASON="login answered '$resp'"; return 1; }
	got=$(curl -sk -b /tmp/jar -o /dev/null -w '%{http_code} %{redirect_url}' https://127.0.0.1/)
	[ "$got" = "303 https://127.0.0.1/account/password" ] || { REASON="GET / after the first login answered '$got', not a redirect to /account/password"; return 1; }
	page=$(curl -sk -b /tmp/jar https://127.0.0.1/account/password)
	tok=$(echo "$page" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n 1)
	[ -n "$tok" ] || { REASON="no csrf_token in /account/password"; return 1; }
	got=$(curl -sk -b /tmp/jar -c /tmp/jar -o /dev/null -w '%{http_code}' --max-time 60 \
		--data-urlencode "csrf_token=$tok" --data-urlencode "current=$PW" \
		--data-urlencode "new=$ADMIN_PASSWORD" --data-urlencode "confirm=$ADMIN_PASSWORD" https://127.0.0.1/account/password)
	case "$got" in 2* | 3*) ;; *) REASON="changing the password answered $got"; return 1 ;; esac
	me=$(curl -sk -b /tmp/jar https://127.0.0.1/api/v1/me)
	echo "$me" | grep -q '"username": *"admin"' || { REASON="after the change /api/v1/me answered '$me'"; return 1; }
	[ ! -e /var/lib/devmgr/initial-admin-password ] || { REASON="the initial password file is still there"; return 1; }
}
REASON=
if console_login; then pass initial-admin-must-change; else fail initial-admin-must-change "$REASON"; fi

# --- WiFi: a station in its own namespace --------------------------------
say "WiFi"
/sbin/ip netns add sta
STA_PHY=$(cat /sys/class/net/$STA_IF/phy80211/name)
iw phy "$STA_PHY" set netns name sta
/sbin/ip -n sta link set lo up
STA=$(/sbin/ip netns exec sta ls /sys/class/net | grep -v '^lo$' | head -n 1)
STA_MAC=$(/sbin/ip netns exec sta cat "/sys/class/net/$STA/address")
say "station $STA $STA_MAC in netns sta"
sta_state() { wpa_cli -p /run/wpa_sta -i "$STA" status 2>/dev/null | sed -n 's/^wpa_state=//p'; }
sta_completed() { [ "$(sta_state)" = COMPLETED ]; }
dns_ok() {
	got=$(timeout 5 /sbin/ip netns exec sta busybox nslookup "$FQDN" "$AP_ADDR" 2>&1 |
		awk '/^Name:/ {n = 1} n && /^Address/ {sub(/.*: */, ""); print; exit}')
	[ "$got" = "$AP_ADDR" ]
}
lease() {
	rm -f "/tmp/lease.$STA"
	timeout 30 /sbin/ip netns exec sta busybox udhcpc -i "$STA" -f -n -q -t 20 -T 1 -A 1 -s $P/udhcpc.sh >/tmp/udhcpc.log 2>&1
	cat "/tmp/lease.$STA" 2>/dev/null
}
WPA_PID=
station() { # station NAME CONF: associate, lease, resolve, reach upstream
	name=$1
	if [ -n "$WPA_PID" ]; then
		kill "$WPA_PID" 2>/dev/null
		wait "$WPA_PID" 2>/dev/null
		/sbin/ip -n sta addr flush dev "$STA"
	fi
	/sbin/ip netns exec sta wpa_supplicant -i "$STA" -c "$2" >/tmp/wpa-$name.log 2>&1 &
	WPA_PID=$!
	t=$(now_ms)
	if ! wait_for 45 sta_completed; then
		show /tmp/wpa-$name.log
		journalctl -b -u devmgr-hostapd --no-pager -n 10 -o cat | sed 's/^/  | hostapd: /'
		fail "$name-associate" "wpa_state=$(sta_state) after 45 s"
		return 1
	fi
	pass "$name-associate" "$(wpa_cli -p /run/wpa_sta -i "$STA" status | grep -E '^(key_mgmt|pairwise_cipher)=' | tr '\n' ' ')in $(since "$t") s"
	ip=$(lease)
	if [ -z "$ip" ]; then
		show /tmp/udhcpc.log 5
		fail "$name-lease" "no DHCP lease"
		return 1
	fi
	pass "$name-lease" "$ip"
	if wait_for 10 dns_ok; then pass "$name-dns" "$FQDN is $AP_ADDR"; else fail "$name-dns" "$FQDN did not resolve to $AP_ADDR"; fi
	got=$(timeout 10 /sbin/ip netns exec sta curl -s --max-time 5 http://198.51.100.1/ 2>&1)
	if [ "$got" = upstream-ok ]; then pass "$name-nat" "the upstream host answered"; else fail "$name-nat" "GET http://198.51.100.1/ from the station: '$got'"; fi
}
station wifi-wpa2 $P/sta-wpa2.conf
station wifi-wpa3-sae $P/sta-sae.conf

code=$(timeout 15 /sbin/ip netns exec sta curl -sk -o /dev/null -w '%{http_code}' --max-time 10 "https://$AP_ADDR/healthz")
if [ "$code" = 200 ]; then pass console-from-wifi; else fail console-from-wifi "GET https://$AP_ADDR/healthz from the station answered '$code'"; fi
if out=$(timeout 10 /sbin/ip netns exec upstream curl -sk -o /dev/null -w '%{http_code}' --max-time 4 https://198.51.100.2/healthz 2>&1); then
	fail console-closed-on-uplink "the upstream side reached the console: $out"
else
	pass console-closed-on-uplink "no answer from https://198.51.100.2/ to the upstream side"
fi

# --- crashes: systemd brings each service back, the AP serves again -------
say "crashes"
# hostapd's unit has a private /tmp, where hostapd_cli would put its own
# socket by default: hostapd's reply would never arrive.
ap_enabled() { hostapd_cli -s /run/hostapd -p /run/hostapd -i "$AP_IF" status 2>/dev/null | grep -qx 'state=ENABLED'; }
mainpid() { systemctl show -p MainPID --value "$1"; }
restarted() { p=$(mainpid "$1"); [ "$p" != 0 ] && [ "$p" != "$OLD_PID" ] && [ "$(systemctl is-active "$1")" = active ]; }
agent_sees_station() { timeout 5 devmgr ap status 2>/dev/null | grep -qi "^$STA_MAC "; }
console_code() { curl -sk -o /dev/null -w '%{http_code}' --max-time 8 https://127.0.0.1/healthz; }
console_up() { [ "$(console_code)" = 200 ]; }
# A new hostapd knows no station: the station is told to associate again
# once the AP is back (a client notices a lost AP itself, more slowly).
NUDGED=
serving_hostapd() {
	restarted devmgr-hostapd.service && ap_enabled || return 1
	if [ -z "$NUDGED" ]; then
		wpa_cli -p /run/wpa_sta -i "$STA" reassociate >/dev/null
		NUDGED=1
	fi
	sta_completed && dns_ok
}
serving_dnsmasq() { restarted devmgr-dnsmasq.service && dns_ok; }
serving_agent() { restarted devmgr-agent.service && agent_sees_station; }
serving_web() { restarted devmgr-web.service && console_up; }
for s in hostapd dnsmasq agent web; do
	unit=devmgr-$s.service
	OLD_PID=$(mainpid $unit)
	t=$(now_ms)
	kill -9 "$OLD_PID"
	if wait_for 10 serving_$s; then
		pass "restart-$s" "killed pid $OLD_PID, serving again in $(since "$t") s as pid $(mainpid $unit)"
	else
		if wait_for 30 serving_$s; then late="serving again only after $(since "$t") s"; else late="still not serving after $(since "$t") s"; fi
		journalctl -b -u $unit --no-pager -n 8 -o cat | sed "s/^/  | $s: /"
		fail "restart-$s" "not serving again within 10 s of kill -9 ($late; $(systemctl is-active $unit), AP $(ap_enabled && echo enabled || echo down), station $(sta_state), DNS $(dns_ok && echo answers || echo silent))"
	fi
done

# --- behind nginx (deploy/README.md): nginx terminates TLS, the console
# listens on loopback and keys its login throttle on the client's address
say "behind nginx"
behind_nginx() {
	sed -i -e 's|^  listen: .*|  listen: 127.0.0.1:8080|' -e 's|^    disable: false$|    disable: true|' \
		-e 's|^    cert: .*|    cert: /var/lib/devmgr/tls/cert.pem|' -e 's|^    key: .*|    key: /var/lib/devmgr/tls/key.pem|' \
		/etc/devmgr/devmgr.yaml
	devmgr config check >/tmp/nginx.log 2>&1 || { REASON="the config behind nginx: $(tail -n 3 /tmp/nginx.log | tr '\n' ' ')"; return 1; }
	devmgr provision >>/tmp/nginx.log 2>&1 || { REASON="devmgr provision: $(grep -v '^[-+@ ]' /tmp/nginx.log | tail -n 4 | tr '\n' ' ')"; return 1; }
	say "provisioned behind nginx"
	ln -s /etc/nginx/sites-available/devmgr /etc/nginx/sites-enabled/devmgr
	nginx -t >>/tmp/nginx.log 2>&1 && systemctl reload nginx || { REASON="nginx: $(tail -n 3 /tmp/nginx.log | tr '\n' ' ')"; return 1; }
	wait_for 20 nginx_up || { REASON="no answer through nginx from the station"; return 1; }
	hdrs=$(timeout 15 /sbin/ip netns exec sta curl -sk -D - -o /dev/null --max-time 10 "https://$AP_ADDR/login")
	echo "$hdrs" | grep -qi '^server: nginx' || { REASON="not nginx answering: $(echo "$hdrs" | tr '\r\n' '  ')"; return 1; }
	echo "$hdrs" | grep -qi '^strict-transport-security: max-age=63072000' || { REASON="no HSTS from nginx: $(echo "$hdrs" | tr '\r\n' '  ')"; return 1; }
	ss -ltn | grep -q ' 127.0.0.1:8080 ' || { REASON="the console does not listen on 127.0.0.1:8080: $(ss -ltn | tr '\n' ' ')"; return 1; }
}
nginx_up() { [ "$(timeout 15 /sbin/ip netns exec sta curl -sk -o /dev/null -w '%{http_code}' --max-time 10 "https://$AP_ADDR/healthz")" = 200 ]; }
login_code() { # login_code NETNS-OR-- PASSWORD: the status of a JSON login as admin through nginx
	if [ "$1" = - ]; then ns=; else ns="/sbin/ip netns exec $1"; fi
	timeout 70 $ns curl -sk -o /dev/null -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
		-d "{\"username\":\"admin\",\"password\":\"$2\"}" "https://$AP_ADDR/api/v1/login"
}
# Five failures block the user from one address: the station's, not nginx's.
throttle_by_client() {
	for i in 1 2 3 4 5; do
		c=$(login_code sta "wrong password $i")
		[ "$c" = 401 ] || { REASON="failure $i from the station answered $c, not 401"; return 1; }
	done
	c=$(login_code sta "$ADMIN_PASSWORD")
	[ "$c" = 429 ] || { REASON="the right password from the station after 5 failures answered $c, not 429"; return 1; }
	c=$(login_code - "$ADMIN_PASSWORD")
	[ "$c" = 200 ] || { REASON="the right password from the device itself (another address, same nginx) answered $c, not 200: the throttle keys on nginx's address"; return 1; }
}
REASON=
if behind_nginx; then
	pass nginx-console "https://$AP_ADDR/ answered by nginx with HSTS, the console on 127.0.0.1:8080"
	if throttle_by_client; then pass nginx-throttle-client-address "the station blocked after 5 failures, the device not"; else fail nginx-throttle-client-address "$REASON"; fi
else
	show /tmp/nginx.log
	fail nginx-console "$REASON"
	fail nginx-throttle-client-address "not run"
fi

# --- upgrade: a newer build keeps the config, the database and the users --
say "upgrade"
echo "$VIEWER_PASSWORD" | devmgr user add viewer1 --role viewer --password-stdin >/dev/null
users_before=$(devmgr user list 2>&1)
conf_before=$(sha256sum /etc/devmgr/devmgr.yaml)
cert_before=$(cat /var/lib/devmgr/tls/* 2>/dev/null | sha256sum)
agent_before=$(mainpid devmgr-agent.service)
web_before=$(mainpid devmgr-web.service)
hostapd_before=$(mainpid devmgr-hostapd.service)
say "apt install ./$(cd $P/v2 && ls devmgr_*.deb)"
if apt_logged /tmp/upgrade.log sh -c "cd $P/v2 && apt install -y ./devmgr_*.deb"; then
	bad=
	v=$(dpkg-query -W -f '${Version}' devmgr)
	[ "$v" = "$V2_VERSION" ] || bad="$bad; dpkg has $v, not $V2_VERSION"
	devmgr version | grep -qF "$V2_DESCRIBE" || bad="$bad; devmgr version says '$(devmgr version)'"
	[ "$(sha256sum /etc/devmgr/devmgr.yaml)" = "$conf_before" ] || bad="$bad; the config changed"
	[ "$(cat /var/lib/devmgr/tls/* 2>/dev/null | sha256sum)" = "$cert_before" ] || bad="$bad; the TLS pair changed"
	[ "$(devmgr user list 2>&1)" = "$users_before" ] || bad="$bad; the users changed: $(devmgr user list 2>&1 | tr '\n' ' ')"
	echo "$users_before" | grep -q viewer1 || bad="$bad; the user added before the upgrade is not listed"
	if [ -z "$bad" ]; then pass upgrade-keeps-data "$v"; else fail upgrade-keeps-data "${bad#; }"; fi
	wait_for 30 all_active
	wait_for 30 console_up
	bad=
	[ "$(mainpid devmgr-agent.service)" != "$agent_before" ] || bad="$bad; the agent was not restarted"
	[ "$(mainpid devmgr-web.service)" != "$web_before" ] || bad="$bad; the console was not restarted"
	[ "$(mainpid devmgr-hostapd.service)" = "$hostapd_before" ] || bad="$bad; hostapd was restarted"
	all_active || bad="$bad; not every unit is active"
	code=$(console_code)
	[ "$code" = 200 ] || bad="$bad; GET /healthz answers '$code'"
	resp=$(curl -sk -c /tmp/jar2 --max-time 60 -H 'Content-Type: application/json' -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" \
		https://127.0.0.1/api/v1/login)
	echo "$resp" | grep -q '"must_change_password": *false' || bad="$bad; the admin cannot sign in with the password chosen before: '$resp'"
	if [ -z "$bad" ]; then
		pass upgrade-restarts "agent and console restarted, hostapd kept"
	else
		curl -skv --max-time 8 https://127.0.0.1/healthz 2>&1 | tail -n 6 | sed 's/^/  | curl: /'
		ss -ltnp | grep -E ':(443|8080) ' | sed 's/^/  | ss: /'
		journalctl -b -u devmgr-web -u nginx --no-pager -n 10 -o cat | sed 's/^/  | journal: /'
		fail upgrade-restarts "${bad#; }"
	fi
else
	fail upgrade-keeps-data "apt install of the newer build failed"
fi

# --- purge: nothing of devmgr stays but what it says it keeps ------------
say "purge"
kill "$WPA_PID" 2>/dev/null
say "apt purge devmgr"
if apt_logged /tmp/purge.log apt purge -y devmgr; then
	kept=$(tr -d '\r' </tmp/purge.log | sed -n 's/^devmgr: purge kept [^:]*: *//p') # apt gives dpkg a terminal: CRLF
	bad=
	systemctl daemon-reload
	for g in $(cat $P/globs); do
		for f in $g; do
			[ -e "$f" ] && bad="$bad; $f is left"
		done
	done
	n=$(systemctl list-unit-files --no-legend 'devmgr*' | wc -l)
	[ "$n" = 0 ] || bad="$bad; systemd still knows $(systemctl list-unit-files --no-legend 'devmgr*' | awk '{print $1}' | tr '\n' ' ')"
	getent passwd devmgr >/dev/null && bad="$bad; the account devmgr is left"
	getent group devmgr >/dev/null && bad="$bad; the group devmgr is left"
	pgrep -f '/usr/bin/devmgr' >/dev/null && bad="$bad; a devmgr process runs: $(pgrep -af /usr/bin/devmgr)"
	nft list table inet devmgr >/dev/null 2>&1 && bad="$bad; the nftables table inet devmgr is left"
	left=$(find / -xdev \( -path /proc -o -path /sys -o -path /mnt -o -path /var/lib/freshvm \) -prune -o -name '*devmgr*' -print 2>/dev/null)
	for f in $left; do
		ok=
		for k in $kept; do
			case "$f" in "$k" | "$k"/*) ok=1 ;; esac
		done
		[ -n "$ok" ] || bad="$bad; $f is left"
	done
	for k in $kept; do
		[ "$(stat -c %U:%G:%a "$k")" = root:root:700 ] || bad="$bad; kept $k is $(stat -c %U:%G:%a "$k"), not root:root:700"
	done
	[ -n "$kept" ] || bad="$bad; purge did not say what it keeps"
	if [ -z "$bad" ]; then pass purge "keeps, as it says:$(echo " $kept")"; else fail purge "${bad#; }"; fi
else
	fail purge "apt purge devmgr failed"
fi
