package api_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// The house's arrows: browser → web → agent/api (+ client) ← agent →
// domain. api imports nothing privileged, and the console none of the
// agent's domain packages.
func TestDependencyDirection(t *testing.T) {
	t.Parallel()
	const mod = "github.com/devmgr/devmgr/"
	deps := func(pkg string) []string {
		out, err := exec.Command(testutil.GoTool(t), "list", "-deps", mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		var own []string
		for _, l := range strings.Fields(string(out)) {
			if p, ok := strings.CutPrefix(l, mod); ok && p != pkg {
				own = append(own, p)
			}
		}
		return own
	}
	if got := deps("internal/agent/api"); !slices.Equal(got, []string{"internal/auth"}) {
		t.Errorf("internal/agent/api imports %q; only internal/auth is allowed", got)
	}
	privileged := []string{"internal/agent", "internal/netif", "internal/apmgr", "internal/diag", "internal/dhcp",
		"internal/dnsmasq", "internal/hostapd", "internal/change", "internal/service", "internal/nsrun", "internal/provision",
		"internal/traffic"}
	for _, pkg := range []string{"internal/web", "internal/agent/client"} {
		for _, d := range deps(pkg) {
			if slices.Contains(privileged, d) {
				t.Errorf("%s depends on %s: the console reaches the agent through agent/api and its client only", pkg, d)
			}
		}
	}
}
