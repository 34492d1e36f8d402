package apmgr

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/devmgr/devmgr/internal/fielderr"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/hostapd"
	"github.com/google/go-cmp/cmp"
)

func TestDenyAndAllow(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	ctx := context.Background()
	if got := m.Denied(); len(got) != 0 {
		t.Fatalf("Denied() = %q", got)
	}
	if err := m.Deny(ctx, "02-00-00-00-01-0A"); err != nil {
		t.Fatalf("Deny: %v", err)
	}
	if err := m.Deny(ctx, "02:00:00:00:00:05"); err != nil {
		t.Fatalf("Deny: %v", err)
	}
	want := []string{"02:00:00:00:00:05", "02:00:00:00:01:0a"}
	if diff := cmp.Diff(want, m.Denied()); diff != "" {
		t.Errorf("Denied() (-want +got):\n%s", diff)
	}
	wantFile, _ := hostapd.RenderDenyList(want)
	if diff := cmp.Diff(string(wantFile), string(e.read(DefaultDenyFile))); diff != "" {
		t.Errorf("deny file (-want +got):\n%s", diff)
	}
	var saved []string
	b, err := os.ReadFile(filepath.Join(e.data, denyFile))
	if err != nil || json.Unmarshal(b, &saved) != nil {
		t.Fatalf("reading %s: %v %s", denyFile, err, b)
	}
	if diff := cmp.Diff(want, saved); diff != "" {
		t.Errorf("%s (-want +got):\n%s", denyFile, diff)
	}
	wantCmds := []string{"RELOAD", "DEAUTHENTICATE 02:00:00:00:01:0a", "RELOAD", "DEAUTHENTICATE 02:00:00:00:00:05"}
	if diff := cmp.Diff(wantCmds, e.fake.commands()); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	// The config hostapd runs names the deny file.
	if !strings.Contains(string(e.read(DefaultHostapdConf)), "deny_mac_file="+DefaultDenyFile+"\n") {
		t.Error("the hostapd config does not name the deny file")
	}

	// Denying again only disconnects again.
	if err := m.Deny(ctx, "02:00:00:00:01:0a"); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.commands()[4:]; !cmp.Equal(got, []string{"DEAUTHENTICATE 02:00:00:00:01:0a"}) {
		t.Errorf("second Deny sent %q", got)
	}

	// The list survives a restart.
	e.eng.Close()
	m = e.new()
	if diff := cmp.Diff(want, m.Denied()); diff != "" {
		t.Errorf("Denied() after restart (-want +got):\n%s", diff)
	}

	if err := m.Allow(ctx, "02:00:00:00:01:0A"); err != nil {
		t.Fatalf("Allow: %v", err)
	}
	want = want[:1]
	if diff := cmp.Diff(want, m.Denied()); diff != "" {
		t.Errorf("Denied() after Allow (-want +got):\n%s", diff)
	}
	wantFile, _ = hostapd.RenderDenyList(want)
	if string(wantFile) != string(e.read(DefaultDenyFile)) {
		t.Errorf("deny file after Allow:\n%s", e.read(DefaultDenyFile))
	}
	if got := e.fake.commands(); got[len(got)-1] != "RELOAD" {
		t.Errorf("commands = %q, want a RELOAD after Allow", got)
	}
	if err := m.Allow(ctx, "02:00:00:00:01:0a"); !errors.Is(err, ErrNotDenied) {
		t.Errorf("Allow of an allowed station = %v, want ErrNotDenied", err)
	}
}

func TestDenyRejectsBadMAC(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	snap := e.snapshot()
	for _, mac := range []string{"", "02:00:00:00:01", "02:00:00:00:01:0a\nRELOAD", "zz:00:00:00:01:0a", "02:00:00:00:01:0a:00:00"} {
		var fe *fielderr.Error
		if err := m.Deny(context.Background(), mac); !errors.As(err, &fe) || fe.Field != "mac" {
			t.Errorf("Deny(%q) = %v, want a fielderr.Error for mac", mac, err)
		}
		if err := m.Allow(context.Background(), mac); !errors.As(err, &fe) || fe.Field != "mac" {
			t.Errorf("Allow(%q) = %v, want a fielderr.Error for mac", mac, err)
		}
	}
	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("files changed (-before +after):\n%s", diff)
	}
	if c := e.fake.commands(); len(c) != 0 {
		t.Errorf("commands = %q", c)
	}
}

// A deny that hostapd cannot take is not kept: nothing is half-applied.
func TestDenyUndoneWhenHostapdCannotReload(t *testing.T) {
	e := newEnv(t)
	e.services.restartErr = errors.New("no such unit")
	m := e.new()
	e.fake.setReply(func(cmd string) (string, bool) {
		if cmd == "RELOAD" {
			return "FAIL\n", true
		}
		return defaultReply(cmd)
	})
	before := string(e.read(DefaultDenyFile))
	if err := m.Deny(context.Background(), "02:00:00:00:01:0a"); err == nil {
		t.Fatal("Deny succeeded")
	}
	if got := m.Denied(); len(got) != 0 {
		t.Errorf("Denied() = %q", got)
	}
	if got := string(e.read(DefaultDenyFile)); got != before {
		t.Errorf("deny file = %q, want %q", got, before)
	}
}

// The first start takes the deny list provision installed.
func TestDenySeededFromInstalledFile(t *testing.T) {
	e := newEnv(t)
	e.write(DefaultDenyFile, []byte("# installed\n02:00:00:00:00:0B\n02:00:00:00:00:0c 5\n\n"))
	m := e.new()
	want := []string{"02:00:00:00:00:0b", "02:00:00:00:00:0c"}
	if diff := cmp.Diff(want, m.Denied()); diff != "" {
		t.Errorf("Denied() (-want +got):\n%s", diff)
	}
	// Sync puts the file into our canonical form.
	if _, err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantFile, _ := hostapd.RenderDenyList(want)
	if got := string(e.read(DefaultDenyFile)); got != string(wantFile) {
		t.Errorf("deny file after Sync = %q", got)
	}
}

func TestClientsJoinLeases(t *testing.T) {
	e := newEnv(t)
	now := time.Unix(1_800_000_000, 0)
	e.write("/var/lib/misc/dnsmasq.devmgr.leases", []byte(strings.Join([]string{
		"1800000600 02:00:00:00:01:00 192.168.4.7 phone 01:02:00:00:00:01:00",
		"1799999000 02:00:00:00:02:00 192.168.4.8 expired *", // expired: no name
		"1800000600 02:00:00:00:09:00 192.168.4.9 gone *",    // not associated
		"",
	}, "\n")))
	m, err := New(Config{Cfg: e.cfg, Root: e.root, Changes: e.newEngine(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Clients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Client{
		{MAC: "02:00:00:00:01:00", IP: "192.168.4.7", Hostname: "phone", Signal: -30, ConnectedSeconds: 42,
			InactiveMillis: 1316, RxBytes: 6311, TxBytes: 3457, Authorized: true, KeyMgmt: "SAE"},
		{MAC: "02:00:00:00:02:00", Signal: -71, ConnectedSeconds: 1, InactiveMillis: 20, RxBytes: 9876543210},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Clients (-want +got):\n%s", diff)
	}
	b, _ := json.Marshal(got[0])
	for _, k := range []string{`"mac":`, `"ip":`, `"hostname":`, `"signal":`, `"connected_seconds":`, `"rx_bytes":`, `"tx_bytes":`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("client JSON %s lacks %s", b, k)
		}
	}
}

func TestClientsWithoutHostapd(t *testing.T) {
	e := newEnv(t)
	m, err := New(Config{Cfg: e.cfg, Root: t.TempDir(), Changes: e.newEngine()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Clients(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Clients = %v, want ErrNotRunning", err)
	}
}
