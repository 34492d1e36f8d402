// Package wifivm proves devmgr's access point on a real 802.11 stack: it
// boots Debian's own kernel in qemu (TCG; KVM does not work on these
// machines) with mac80211_hwsim's two simulated radios, from an initramfs
// built here out of the host's busybox-static, hostapd, wpa_supplicant,
// dnsmasq, iw, iproute2 and nft with their libraries, and the project's own
// static devmgr binary.
//
// Inside the VM, /init (init.sh) runs each Case: `devmgr provision` renders,
// checks and installs the config and supervises hostapd and dnsmasq; a
// wpa_supplicant station on the second radio, in the network namespace
// "sta", associates, takes a DHCP lease, resolves device.local, and must
// appear in `devmgr ap status` with its IP and hostname; an intruder on the
// third radio, with a wrong passphrase, must be refused. Every wait is
// bounded; the VM prints "CASE <name> PASS" or "CASE <name> FAIL: <reason>"
// on its serial console and powers off. The VM has no network device.
//
// The kernel package and the base of the initramfs are cached in
// vm.DefaultCacheDir; see docs/notes/wifi-lab.md for the facts behind the
// recipe. TestRealWiFi reads these environment variables:
//
//	WIFIVM_DEVMGR=PATH   use this static devmgr instead of building one
//	WIFIVM_SETUP=direct  start hostapd and dnsmasq from /init with configs
//	                     rendered on the host (no devmgr provision)
//	WIFIVM_DEBUG=1       show devmgr provision's log for passing cases too
package wifivm
