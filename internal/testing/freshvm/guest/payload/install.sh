# The first boot: install the package the way a user does, set it up
# non-interactively, reboot.
say "apt install ./$(cd $P/v1 && ls devmgr_*.deb)"
if apt_logged /tmp/apt.log sh -c "cd $P/v1 && apt install -y ./devmgr_*.deb"; then
	pass install "$(dpkg-query -W -f '${Version}' devmgr)"
else
	fail install "apt install ./devmgr_*.deb failed"
fi
say "installed"

# The package creates the account, and ships the units disabled.
bad=
getent passwd devmgr >/dev/null || bad="$bad; no account devmgr"
for u in $UNITS; do
	st=$(systemctl is-enabled "$u" 2>&1)
	[ "$st" = disabled ] || bad="$bad; $u is '$st', not disabled"
done
if [ -z "$bad" ]; then pass installed-disabled; else fail installed-disabled "${bad#; }"; fi

say "devmgr setup"
if echo "$PASSPHRASE" | devmgr setup --country US --ssid "$SSID" --passphrase-stdin >/tmp/setup.log 2>&1; then
	sed 's/^/  | /' /tmp/setup.log
	bad=
	grep -q "https://$FQDN/" /tmp/setup.log || bad="$bad; no console URL https://$FQDN/"
	grep -q "/var/lib/devmgr/initial-admin-password" /tmp/setup.log || bad="$bad; does not say where the first admin password is"
	grep -q "^  interface: $AP_IF\$" /etc/devmgr/devmgr.yaml || bad="$bad; the AP is not on $AP_IF (the first AP-capable interface)"
	grep -A1 '^uplinks:' /etc/devmgr/devmgr.yaml | grep -q -- "- $UPLINK\$" || bad="$bad; the uplink is not $UPLINK (the one with the default route)"
	if [ -z "$bad" ]; then pass setup; else fail setup "${bad#; }"; fi
else
	show /tmp/setup.log 30
	fail setup "devmgr setup failed"
fi

echo "$AFTER_INSTALL" >/var/lib/freshvm/stage
sync
say "rebooting"
echo "FRESHVM REBOOT"
systemctl reboot
sleep 60
