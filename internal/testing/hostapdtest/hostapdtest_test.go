package hostapdtest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/hostapd"
)

// The stand-in is driven through devmgr's own control client, as the agent
// drives it: the deny list and the SSID follow the config on RELOAD, a
// deauthenticated station stays away until then, and nothing outside Root
// is read.
func TestDenyListAndReload(t *testing.T) {
	root := t.TempDir()
	conf := filepath.Join(root, "etc/hostapd/devmgr.conf")
	write := func(p, s string) {
		t.Helper()
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/hostapd/devmgr.conf", "interface=wlan0\nssid=Lab\nchannel=11\ndeny_mac_file=/etc/hostapd/devmgr.deny\n")
	write("etc/hostapd/devmgr.deny", "# refused\n02:00:00:00:02:00\n")
	ctrl := filepath.Join(t.TempDir(), "hostapd")
	s := Start(t, ctrl, "wlan0", conf, root, TwoStations())
	c, err := hostapd.Dial(ctrl, "wlan0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	macs := func() []string {
		t.Helper()
		st, err := c.Stations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range st {
			out = append(out, x.Addr)
		}
		return out
	}
	status := func() hostapd.Status {
		t.Helper()
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if diff := cmp.Diff([]string{"02:00:00:00:01:00"}, macs()); diff != "" {
		t.Errorf("stations with the laptop denied (-want +got):\n%s", diff)
	}
	if st := status(); st.SSID != "Lab" || st.Channel != 11 || st.NumSTA != 1 {
		t.Errorf("status %+v, want SSID Lab, channel 11, one station", st)
	}

	// Allowed again and renamed: after RELOAD both are back, under the new SSID.
	write("etc/hostapd/devmgr.deny", "# refused\n")
	write("etc/hostapd/devmgr.conf", "interface=wlan0\nssid=Renamed\nchannel=11\ndeny_mac_file=/etc/hostapd/devmgr.deny\n")
	if got := macs(); len(got) != 1 {
		t.Errorf("stations before RELOAD = %v: the files count only once hostapd reloads", got)
	}
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"02:00:00:00:01:00", "02:00:00:00:02:00"}, macs()); diff != "" {
		t.Errorf("stations after RELOAD (-want +got):\n%s", diff)
	}
	if st := status(); st.SSID != "Renamed" || st.NumSTA != 2 {
		t.Errorf("status after RELOAD %+v", st)
	}

	// A deauthenticated station is gone until the next RELOAD.
	if err := c.Deauth(ctx, "02:00:00:00:01:00"); err != nil {
		t.Fatal(err)
	}
	if got := macs(); slices.Contains(got, "02:00:00:00:01:00") {
		t.Errorf("stations after DEAUTHENTICATE = %v", got)
	}
	if n := s.Count("RELOAD"); n != 1 {
		t.Errorf("RELOAD count %d", n)
	}
}

// Listen takes over a stale socket file and Close removes it.
func TestListenClose(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "hostapd", "wlan0")
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var unknown []string
	s, err := Listen(Config{Socket: sock, Unknown: func(cmd string) { unknown = append(unknown, cmd) }})
	if err != nil {
		t.Fatal(err)
	}
	c, err := hostapd.Dial(filepath.Dir(sock), "wlan0")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.Request(context.Background(), "WPS_PBC"); err != nil || r != "UNKNOWN COMMAND\n" {
		t.Errorf("WPS_PBC = %q, %v", r, err)
	}
	c.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket after Close: %v", err)
	}
	if !slices.Equal(unknown, []string{"WPS_PBC"}) {
		t.Errorf("unknown commands %q", unknown)
	}
}
