package lab

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/config"
)

func TestWriteConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := (&Lab{}).Config(filepath.Join(dir, "data"))
	want.Web.Listen = "127.0.0.1:8443"
	want.Agent.Socket = filepath.Join(dir, "run", "agent.sock")
	path := filepath.Join(dir, "lab.yaml")
	if err := WriteConfig(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config after write and load (-want +got):\n%s", diff)
	}
	bad := want
	bad.AP.Passphrase = "short"
	if err := WriteConfig(path, bad); err == nil {
		t.Error("WriteConfig accepted an invalid config")
	}
}
