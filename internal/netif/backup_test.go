package netif

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
)

func TestWriteDesiredReadDesired(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Agent.StateDir = t.TempDir()
	dir := DesiredDir(cfg)
	if got, err := ReadDesired(cfg, dir); err != nil || len(got) != 0 {
		t.Fatalf("ReadDesired of nothing = %v, %v", got, err)
	}
	want := map[string]LinkConfig{"eth1": {Mode: ModeStatic, Addresses: []string{"10.9.0.2/24"}, Gateway: "10.9.0.1", DNS: []string{"10.9.0.1"}}}
	if err := WriteDesired(cfg, dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDesired(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestValidateDesiredRefuses(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	for name, d := range map[string]map[string]LinkConfig{
		"the AP interface": {"wlan0": {Mode: ModeDHCP}},
		"an uplink":        {"eth0": {Mode: ModeDHCP}},
		"a bad address":    {"eth1": {Mode: ModeStatic, Addresses: []string{"10.9.0.0/24"}}},
		"the AP network":   {"eth1": {Mode: ModeStatic, Addresses: []string{"192.168.4.7/24"}}},
	} {
		if err := ValidateDesired(cfg, d); !errors.Is(err, change.ErrInvalid) {
			t.Errorf("%s: ValidateDesired = %v, want ErrInvalid", name, err)
		}
	}
	dir := t.TempDir()
	if err := WriteDesired(cfg, dir, map[string]LinkConfig{"eth0": {Mode: ModeDHCP}}); err == nil {
		t.Error("WriteDesired wrote an uplink's config")
	}
	if _, err := os.Stat(filepath.Join(dir, desiredFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused WriteDesired left %s: %v", desiredFile, err)
	}
	os.WriteFile(filepath.Join(dir, desiredFile), []byte(`{"eth1":{"mode":"static","addresses":["10.9.0.2/24"],"extra":1}}`), 0o600)
	if _, err := ReadDesired(cfg, dir); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("ReadDesired of an unknown field = %v", err)
	}
}
