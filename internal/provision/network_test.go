package provision

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNetworkdSteps(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name                        string
		active, enabled, waitOnline string
		want                        [][]string
		warn                        bool
	}{
		{name: "running", active: "active", enabled: "enabled", waitOnline: "enabled"},
		{name: "enabled, stopped", active: "inactive", enabled: "enabled", waitOnline: "disabled",
			want: [][]string{{"systemctl", "start", unitNetworkd}}},
		{name: "a fresh Debian", active: "inactive", enabled: "disabled", waitOnline: "disabled",
			want: [][]string{{"systemctl", "enable", "--no-reload", unitNetworkd}, {"systemctl", "disable", "--no-reload", unitWaitOnline}, {"systemctl", "start", unitNetworkd}}},
		{name: "wait-online was enabled", active: "inactive", enabled: "disabled", waitOnline: "enabled",
			want: [][]string{{"systemctl", "enable", "--no-reload", unitNetworkd}, {"systemctl", "start", unitNetworkd}}},
		{name: "running, not enabled", active: "active", enabled: "disabled", waitOnline: "disabled",
			want: [][]string{{"systemctl", "enable", "--no-reload", unitNetworkd}, {"systemctl", "disable", "--no-reload", unitWaitOnline}}},
		{name: "masked", active: "inactive", enabled: "masked", warn: true},
		{name: "missing", active: "inactive", enabled: "not-found", warn: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, warn := networkdSteps(tt.active, tt.enabled, tt.waitOnline)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if (warn != "") != tt.warn {
				t.Errorf("warn = %q", warn)
			}
		})
	}
}
