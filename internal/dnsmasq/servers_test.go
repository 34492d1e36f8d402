package dnsmasq

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRenderServers(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr
	got := string(RenderServers([]Server{
		{a("10.0.0.1"), "eth1"},
		{a("2001:db8::53"), "eth1"},
		{a("::ffff:10.0.0.1"), "eth2"}, // the same server, IPv4-mapped
		{a("10.0.0.2"), "eth2\nserver=6.6.6.6"},
		{netip.Addr{}, "eth3"},
	}))
	want := "# Written by the devmgr agent: DNS servers of the LAN interfaces.\n" +
		"server=10.0.0.1 # eth1\n" +
		"server=2001:db8::53 # eth1\n" +
		"server=10.0.0.2 # eth2?server=6.6.6.6\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := string(RenderServers(nil)); got != "# Written by the devmgr agent: DNS servers of the LAN interfaces.\n" {
		t.Errorf("no servers: %q", got)
	}
}

func TestReloadRefusesWhatIsNotDnsmasq(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	if err := Reload(pidFile); !errors.Is(err, ErrNotRunning) {
		t.Errorf("no pid file: %v, want ErrNotRunning", err)
	}
	// This test process is not dnsmasq: it must not get a SIGHUP.
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Reload(pidFile); !errors.Is(err, ErrNotRunning) {
		t.Errorf("pid of a process that is not dnsmasq: %v, want ErrNotRunning", err)
	}
	if err := os.WriteFile(pidFile, []byte("1; rm -rf /"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Reload(pidFile); err == nil || errors.Is(err, ErrNotRunning) {
		t.Errorf("garbage pid file: %v, want an error naming it", err)
	}
}
