package provision

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// maxExposure is the highest overall exposure `systemd-analyze security`
// may give each long-running unit (0 is fully sandboxed, 10 is not at all).
var maxExposure = map[string]float64{
	device.UnitWeb:     2.5,
	device.UnitAgent:   6.0,
	device.UnitHostapd: 6.0,
	device.UnitDnsmasq: 6.0,
}

var exposureLine = regexp.MustCompile(`(?m)Overall exposure level for (\S+): (\d+(?:\.\d+)?)`)

// exposure returns the overall exposure level that `systemd-analyze
// security` printed for unit.
func exposure(out []byte, unit string) (float64, error) {
	for _, m := range exposureLine.FindAllSubmatch(out, -1) {
		if string(m[1]) != unit {
			continue
		}
		v, err := strconv.ParseFloat(string(m[2]), 64)
		if err != nil {
			return 0, fmt.Errorf("parsing exposure %q of %s: %w", m[2], unit, err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("no overall exposure level for %s in the output: %q", unit, out)
}

func TestExposureParses(t *testing.T) {
	t.Parallel()
	out := []byte("✗ UMask=   Files created by service are world-readable by default   0.1\n\n" +
		"→ Overall exposure level for devmgr-agent.service: 9.2 UNSAFE 😨\n")
	got, err := exposure(out, "devmgr-agent.service")
	if err != nil || got != 9.2 {
		t.Errorf("exposure = %v, %v; want 9.2", got, err)
	}
	if _, err := exposure(out, "devmgr-web.service"); err == nil {
		t.Error("exposure of a unit not in the output: no error")
	}
}

// Each long-running unit of every plan case is sandboxed: its exposure as
// `systemd-analyze security --offline=true` rates the unit file stays at
// or below maxExposure.
func TestUnitsAreSandboxed(t *testing.T) {
	t.Parallel()
	bin := testutil.RequireBinary(t, "systemd-analyze")
	for i, tc := range planCases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, files := planFor(t, i)
			dir := t.TempDir()
			seen := 0
			for _, f := range files {
				name := filepath.Base(f.Path)
				limit, ok := maxExposure[name]
				if !ok {
					continue
				}
				seen++
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, f.Content, 0o644); err != nil {
					t.Fatal(err)
				}
				out, err := runTool(context.Background(), bin, "security", "--offline=true", "--no-pager", p)
				if err != nil {
					t.Fatalf("rating %s: %v", name, err)
				}
				got, err := exposure(out, name)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: exposure %.1f (at most %.1f)", name, got, limit)
				if got > limit {
					t.Errorf("%s: exposure %.1f, want at most %.1f:\n%s", name, got, limit, out)
				}
			}
			if seen != len(maxExposure) {
				t.Errorf("rated %d units, want %d", seen, len(maxExposure))
			}
		})
	}
}
