package devrun

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func TestBlockedFor(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // t.TempDir makes both 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if bad, _ := BlockedFor(dir, &syscall.Credential{Uid: 65534, Gid: 65534}); bad != "" {
		testutil.Missing(t, "%s is closed to other users", bad)
	}
	closed := filepath.Join(dir, "closed")
	group := filepath.Join(dir, "group")
	for _, d := range []string{closed, group} {
		if err := os.MkdirAll(filepath.Join(d, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(group, 0o710); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(group, &st); err != nil {
		t.Fatal(err)
	}
	other := &syscall.Credential{Uid: st.Uid + 12345, Gid: st.Gid + 12345}
	member := &syscall.Credential{Uid: st.Uid + 12345, Gid: st.Gid + 12345, Groups: []uint32{st.Gid}}
	if bad, _ := BlockedFor(filepath.Join(dir, "x"), other); bad != "" {
		t.Errorf("BlockedFor(open dir) = %q", bad)
	}
	if bad, mode := BlockedFor(filepath.Join(closed, "data"), other); bad != closed || mode != 0o700 {
		t.Errorf("BlockedFor(closed) = %q, %04o; want %q, 0700", bad, mode, closed)
	}
	if bad, _ := BlockedFor(filepath.Join(group, "data"), other); bad != group {
		t.Errorf("BlockedFor(group dir, not a member) = %q, want %q", bad, group)
	}
	if bad, _ := BlockedFor(filepath.Join(group, "data"), member); bad == group {
		t.Errorf("BlockedFor(group dir, member) = %q, want it passable", bad)
	}
	owner := &syscall.Credential{Uid: st.Uid, Gid: st.Gid}
	if bad, _ := BlockedFor(filepath.Join(closed, "data"), owner); bad == closed {
		t.Errorf("BlockedFor(closed, owner) = %q, want it passable", bad)
	}
}

func TestPrefixWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &prefixWriter{mu: &sync.Mutex{}, w: &buf, prefix: "agent | "}
	for _, s := range []string{"one\ntw", "o\n", "three"} {
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	w.flush()
	if got, want := buf.String(), "agent | one\nagent | two\nagent | three\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// The agent's /etc layer holds what provisioning installs for the AP and
// the lab's resolver, and the stand-in reads that config as hostapd would.
func TestEtcLayer(t *testing.T) {
	dir := t.TempDir()
	e := newEtcLayer(dir)
	cfg := (&lab.Lab{}).Config(filepath.Join(dir, "data"))
	cfg.AP.SSID = "Lab Net"
	ctrl := filepath.Join(dir, "run", "hostapd")
	for range 2 { // a second start begins afresh
		if err := e.prepare(cfg.AP, ctrl); err != nil {
			t.Fatal(err)
		}
	}
	resolv, err := os.ReadFile(filepath.Join(e.upper, "resolv.conf"))
	if err != nil || !strings.Contains(string(resolv), "\nnameserver "+lab.UpstreamIP+"\n") {
		t.Errorf("resolv.conf: %v\n%s", err, resolv)
	}
	conf, err := os.ReadFile(filepath.Join(e.root, device.HostapdConf))
	if err != nil || !strings.Contains(string(conf), "\nctrl_interface="+ctrl+"\n") ||
		!strings.Contains(string(conf), "\ndeny_mac_file="+device.HostapdDeny+"\n") {
		t.Errorf("hostapd config: %v\n%s", err, conf)
	}
	s, err := startStandIn(filepath.Join(ctrl, "wlan0"), e.root, "02:00:00:00:00:01",
		[]wifiClient{{role: lab.Client1, mac: "02:00:00:00:00:11"}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.SSID() != "Lab Net" || len(s.Stations()) != 1 || s.Stations()[0].MAC != "02:00:00:00:00:11" {
		t.Errorf("stand-in: SSID %q, stations %+v", s.SSID(), s.Stations())
	}
	argv := e.argv("/bin/devmgr-dev", "/bin/devmgr", "agent")
	want := []string{"/bin/devmgr-dev", EtcOverlayCommand, "--upper", e.upper, "--work", e.work, "--", "/bin/devmgr", "agent"}
	if !slices.Equal(argv, want) {
		t.Errorf("argv %q, want %q", argv, want)
	}
	// Refused before anything is mounted.
	for _, bad := range [][2]string{{"relative", e.work}, {e.upper, "/a,b"}, {e.upper, "/a:b"}} {
		if err := EtcOverlayExec(bad[0], bad[1], []string{"true"}); err == nil || !strings.Contains(err.Error(), "absolute path") {
			t.Errorf("EtcOverlayExec(%q, %q) = %v", bad[0], bad[1], err)
		}
	}
}
