// Package freshvm proves the whole install the way a device owner meets
// it, on a fresh Debian 12 with systemd as PID 1 in qemu (TCG): the
// package built by `make deb` is installed with `apt install
// ./devmgr_*.deb`, `devmgr setup` runs non-interactively, the VM reboots,
// and the checks print one "CASE <name> PASS|FAIL" line each: every devmgr
// unit enabled and active and the system not degraded by them; the
// console over HTTPS, where the first admin must change the password; a
// wpa_supplicant station on the second mac80211_hwsim radio (WPA2, then
// WPA3-SAE) that associates, gets a lease, resolves device.local and
// reaches an upstream host through NAT, while the console stays closed to
// the uplink side; hostapd, dnsmasq, the agent and the console killed one
// by one, each back and serving within 10 s; an upgrade to a newer build
// that keeps the config, the database and the users; and a purge that
// leaves nothing but the data it says it keeps.
//
// The VM is built from the kernel, initramfs and qemu runner of
// internal/testing/vm, shared with the WiFi VM. Its root disk is
// debootstrap's minbase with the checks' tools, cached in
// vm.DefaultCacheDir and made anew when its inputs change (the Debian
// root, the kernel, the package's dependencies, the scaffolding); the
// package's dependencies are downloaded into apt's cache in the image, so
// the VM has no network device and no mirror can make it flaky. The
// packages and the checks come on a second disk (/dev/vdb). A reboot ends
// qemu (-no-reboot) and the test boots the same disk again. Results go to
// the second serial port; the consoles are saved as testout/freshvm-*.log.
// docs/notes/fresh-vm.md holds the facts behind the recipe.
//
// TestFreshInstall reads FRESHVM_DEBS, the directory where `make deb`
// wrote the packages (else it runs `make deb` itself).
//
// Demo is the same VM for `make run DEVICE=vm`: the package installed and
// set up (that disk cached per package), the console forwarded to the
// host through qemu's user network, two stations kept associated.
package freshvm
