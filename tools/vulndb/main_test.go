package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestBuild(t *testing.T) {
	out := filepath.Join(t.TempDir(), "db")
	if err := os.MkdirAll(filepath.Join(out, "stale"), 0o755); err != nil {
		t.Fatal(err)
	}
	srcTime := time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)
	n, err := build("testdata/osv", out, "v0.0.0-test", srcTime)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("build wrote %d entries, want 2", n)
	}
	if _, err := os.Stat(filepath.Join(out, "stale")); !os.IsNotExist(err) {
		t.Errorf("the old database was not replaced: %v", err)
	}

	var db map[string]time.Time
	readJSON(t, filepath.Join(out, "index", "db.json"), &db)
	if want := time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC); !db["modified"].Equal(want) {
		t.Errorf("db.json modified %v, want the newest entry's %v", db["modified"], want)
	}

	var mods []moduleIndex
	readJSON(t, filepath.Join(out, "index", "modules.json"), &mods)
	got := map[string][]string{}
	for _, m := range mods {
		for _, v := range m.Vulns {
			got[m.Path] = append(got[m.Path], v.ID+" fixed="+v.Fixed)
		}
	}
	want := map[string][]string{
		"example.com/a": {"GO-2099-0001 fixed=1.10.1", "GO-2099-0002 fixed="},
		"stdlib":        {"GO-2099-0001 fixed=1.26.9"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("modules.json gives %v, want %v", got, want)
	}
	if mods[0].Path != "example.com/a" {
		t.Errorf("modules.json is not sorted by path: %v", mods)
	}

	var vulns []vulnIndex
	readJSON(t, filepath.Join(out, "index", "vulns.json"), &vulns)
	if len(vulns) != 2 || vulns[0].ID != "GO-2099-0001" || !reflect.DeepEqual(vulns[0].Aliases, []string{"CVE-2099-0001"}) {
		t.Errorf("vulns.json: %+v", vulns)
	}

	var e struct{ ID, Summary string }
	readJSON(t, filepath.Join(out, "ID", "GO-2099-0002.json"), &e)
	if e.ID != "GO-2099-0002" || e.Summary == "" {
		t.Errorf("ID/GO-2099-0002.json holds %+v", e)
	}
	if b, err := os.ReadFile(filepath.Join(out, "version")); err != nil || string(b) != "v0.0.0-test\n" {
		t.Errorf("version file %q, %v", b, err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".db-*"))
	if len(left) > 0 {
		t.Errorf("temporary directories left: %v", left)
	}
}

func TestBuildRefusesMisnamedReport(t *testing.T) {
	src := t.TempDir()
	b, err := os.ReadFile("testdata/osv/GO-2099-0001.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "GO-2099-0009.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "db")
	if _, err := build(src, out, "v0", time.Time{}); err == nil {
		t.Error("build accepted a report whose id does not match its file name")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed build left %s: %v", out, err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
}
