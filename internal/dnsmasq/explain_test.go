package dnsmasq

import (
	"context"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func TestExplain(t *testing.T) {
	t.Parallel()
	tests := []struct{ out, want string }{
		{"dnsmasq: failed to create listening socket for 192.168.4.1: Address already in use\n", "port 53 (DNS) on 192.168.4.1"},
		{"dnsmasq: failed to bind DHCP server socket: Address already in use\n", "port 67"},
		{"dnsmasq: failed to create listening socket for 192.168.4.1: Cannot assign requested address\n", "not configured"},
		{"dnsmasq: unknown interface wlan0\n", "wlan0 does not exist"},
		{"dnsmasq: bad dhcp-range at line 3 of /etc/dnsmasq.d/devmgr.conf\n", "bad dhcp-range at line 3"},
		{"dnsmasq: cannot open or create lease file /var/lib/misc/x.leases: No such file or directory\n", "/var/lib/misc/x.leases"},
		{"dnsmasq: failed to open pidfile /run/nope/d.pid: No such file or directory\n", "/run/nope/d.pid"},
		{"dnsmasq: started, version 2.90\n", ""},
	}
	for _, tt := range tests {
		got := Explain(tt.out)
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("Explain(%q) = %q, want it to contain %q", tt.out, got, tt.want)
		}
	}
}

// The real dnsmasq's complaint about a bad line is explained.
func TestExplainRealCheckOutput(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "dnsmasq")
	err := Check(context.Background(), []byte("interface=wlan0\ndhcp-range=nonsense\n"))
	if err == nil {
		t.Fatal("Check accepted a bad dhcp-range")
	}
	if got := Explain(err.Error()); !strings.Contains(got, "at line 2") {
		t.Errorf("Explain(%q) = %q", err, got)
	}
}
