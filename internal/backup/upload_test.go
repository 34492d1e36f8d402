package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/netif"
)

// An upload is kept under the name of its manifest's host and time, as
// uploaded, once it passes every check of a restore; a refused one, and
// the same one again, leave backup.dir as it was.
func TestUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDevice(t)
	d.populate()
	plain := d.create(KindManual, "")
	encrypted := d.create(KindScheduled, "a long enough passphrase")
	dir := t.TempDir() // another device's backup.dir
	upload := func(path, pass string, limits Limits) (Info, error) {
		t.Helper()
		o := UploadOptions{Dir: dir, Limits: limits, TempDir: d.tmp, Log: testLog(t),
			Passphrase: func() (string, error) { return pass, nil }}
		return Upload(ctx, openArchive(t, path), o)
	}

	got, err := upload(plain.Path, "", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := plain
	want.Name = strings.Replace(plain.Name, "-manual.", "-uploaded.", 1)
	want.Path, want.Kind = dir+"/"+want.Name, KindUploaded
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("uploaded (-want +got):\n%s", diff)
	}
	if b, a := readArchiveFile(t, plain.Path), readArchiveFile(t, got.Path); !bytes.Equal(a, b) {
		t.Error("the kept upload differs from the archive")
	}
	if st, err := os.Stat(got.Path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("kept upload: %v %v", st.Mode(), err)
	}
	list, err := List(dir)
	if err != nil || len(list) != 1 || list[0].Name != want.Name || list[0].Version != "v1.2.3" {
		t.Errorf("List after the upload: %+v %v", list, err)
	}
	if removed, _ := Prune(dir, 0); len(removed) != 0 {
		t.Errorf("Prune removed an upload: %v", removed)
	}
	before := tree(t, dir)

	if _, err := upload(plain.Path, "", Limits{}); !errors.Is(err, ErrExists) {
		t.Errorf("the same upload again: %v, want ErrExists", err)
	}
	if _, err := upload(encrypted.Path, "wrong passphrase!", Limits{}); !errors.Is(err, ErrPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	if _, err := upload(plain.Path, "", Limits{Archive: plain.Size - 1}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	bad := t.TempDir() + "/bad.tar.gz"
	b := readArchiveFile(t, plain.Path)
	os.WriteFile(bad, b[:len(b)/2], 0o600)
	if _, err := upload(bad, "", Limits{}); !errors.Is(err, ErrDamaged) {
		t.Errorf("truncated: %v", err)
	}
	if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
		t.Errorf("refused uploads left files (-before +after):\n%s", diff)
	}

	got, err = upload(encrypted.Path, "a long enough passphrase", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Encrypted || !strings.HasSuffix(got.Name, "-uploaded.devmgr-backup") || got.Version != "" {
		t.Errorf("encrypted upload: %+v", got)
	}
}

// A restore that keeps the config (the console's, through the agent)
// leaves the config file alone and shows what it leaves out, makes the
// backup's AP settings the saved ones, and puts each LAN config on a LAN
// interface of the device's config, or says which to map it to.
func TestStageKeepingTheConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDevice(t)
	d.populate()
	// The backup's config has its own AP section; its console saved none.
	cfg := d.cfg
	cfg.AP.SSID, cfg.AP.Channel = "From The File", 1
	d.writeConfig(cfg)
	d.setAgent(AgentState{AP: apmgr.State{Deny: []string{"02:00:00:00:00:01"}},
		LAN: map[string]netif.LinkConfig{"eth1": {Mode: netif.ModeStatic, Addresses: []string{"10.20.0.2/24"}}}})
	info := d.create(KindManual, "")

	// This device: another config, whose LAN interface is eth2.
	cfg = d.cfg
	cfg.AP.SSID, cfg.Network.RollbackTimeout = "Here", 90e9
	cfg.LAN = []string{"eth2"}
	d.writeConfig(cfg)
	d.setAgent(AgentState{AP: apmgr.State{Deny: []string{}}, LAN: map[string]netif.LinkConfig{}})
	cfgBefore, _ := os.ReadFile(d.cfgPath)
	o := d.restoreOptions()
	o.KeepConfig = true
	o.Interfaces = func() ([]string, error) { return append(interfaces, "eth2"), nil }
	s, err := Stage(ctx, openArchive(t, info.Path), o)
	if err != nil {
		t.Fatal(err)
	}
	p := s.Plan
	s.Close()
	if !p.ConfigKept || !strings.Contains(p.ConfigDiff, "ssid: From The File") || !cmp.Equal(p.Next.Config, cfg) {
		t.Errorf("plan: kept %v, next config %+v, diff:\n%s", p.ConfigKept, p.Next.Config, p.ConfigDiff)
	}
	if diff := cmp.Diff([]Missing{{Name: "eth1", Used: []string{"LAN config"}, Suggest: "eth2"}}, p.Missing); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
	if err := p.Blocked(); err == nil || !strings.Contains(err.Error(), "eth1 (LAN config): --map eth1=eth2") {
		t.Errorf("Blocked = %v", err)
	}

	o.Maps = map[string]string{"eth1": "eth2"}
	s, err = Stage(ctx, openArchive(t, info.Path), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p = s.Plan
	if p.Blocked() != nil || len(p.LAN) != 1 || p.LAN[0].Interface != "eth2" {
		t.Errorf("mapped plan: blocked %v, LAN %+v", p.Blocked(), p.LAN)
	}
	if st := p.Next.Agent.AP.Settings; st == nil || st.SSID != "From The File" || st.Channel != 1 || st.Passphrase != cfg.AP.Passphrase {
		t.Errorf("restored AP settings %+v, want the backup's config's", st)
	}
	var buf bytes.Buffer
	p.Write(&buf)
	for _, want := range []string{"config: kept; root restores the backup's", `ssid: "Here" → "From The File"`, "LAN eth2:", "interface eth1 of the backup is eth2 here"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the plan does not say %q:\n%s", want, buf.String())
		}
	}

	// The console's part alone: users back, config as it was.
	db := d.db()
	db.CreateUser(ctx, "zoe", "admin", "hash-of-zoe", false)
	db.Close()
	if err := s.RestoreConsole(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(d.cfgPath); !bytes.Equal(b, cfgBefore) {
		t.Error("a restore keeping the config changed it")
	}
	if _, err := d.db().UserByName(ctx, "zoe"); err == nil {
		t.Error("zoe, whom the backup lacks, is still there")
	}
}
