package provision

import (
	"context"
	"strings"
	"testing"
)

func TestProvisionRefusesUnknownServiceManager(t *testing.T) {
	t.Parallel()
	err := Provision(context.Background(), testConfig(), Options{Root: "/"}, "upstart")
	if err == nil || !strings.Contains(err.Error(), `--services "upstart" is not one of auto, systemd, supervisor, none`) {
		t.Errorf("Provision with services upstart = %v, want the list of kinds", err)
	}
}

// Into a staging root (or a dry run) no service manager is used, so the
// kind is not even looked at.
func TestProvisionStagingIgnoresServiceManager(t *testing.T) {
	t.Parallel()
	requireTools(t)
	root := t.TempDir()
	var out strings.Builder
	o := runOptions(t, root, &out)
	o.DryRun = true
	if err := Provision(context.Background(), testConfig(), o, "upstart"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "nothing written") {
		t.Errorf("output:\n%s", out.String())
	}
}
