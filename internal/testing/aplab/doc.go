// Package aplab is the end-to-end lab test of a provisioned device: it
// builds the network-namespace lab (internal/testing/lab), runs the real
// provisioning on "/" inside the lab device's network namespace, and then
// checks from the lab's WiFi clients, upstream and LAN host what a user
// of the access point would see: DHCP leases, device.local, NAT to the
// uplink, the firewall's AP→LAN and console-port rules, and that a second
// provisioning changes nothing.
//
// How it runs: the test binary re-executes itself (TestMain, by
// environment) as the device, under `ip netns exec DEV unshare --mount
// --pid --fork --kill-child --mount-proc`. There it overlays /etc and /var
// (upper layers in the test's temp dir), mounts a tmpfs on /run, and on
// command from the test calls provision.Run with Root "/" and a
// service.Supervisor built from provision.Specs: the AP's dnsmasq, the
// agent and the console are the real ones (devmgr is built with go build),
// started by provisioning itself. hostapd is started too but cannot stay
// up, since the AP interface is a veth and this kernel has no WiFi;
// provisioning says so and the test accepts exactly that. The real radio
// is proven by the qemu VM test (internal/testing/wifivm). The test binary is also
// udhcpc's hook script, applying leases with netlink.
//
// The package holds only tests; run them as root:
//
//	go test -race ./internal/testing/aplab/...
package aplab
