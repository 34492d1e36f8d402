package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// The device binary links no test scaffolding: nothing under
// internal/testing (the lab, the AP lab, the WiFi VM, fakes, helpers).
func TestNoTestingPackages(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(testutil.GoTool(t), "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const prefix = "github.com/devmgr/devmgr/internal/testing"
	var deps int
	for _, p := range strings.Fields(string(out)) {
		deps++
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			t.Errorf("cmd/devmgr depends on %s", p)
		}
	}
	if deps < 10 {
		t.Fatalf("go list -deps printed only %d packages:\n%s", deps, out)
	}
}
