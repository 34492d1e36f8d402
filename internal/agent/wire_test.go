package agent

import (
	"testing"

	"github.com/devmgr/devmgr/internal/agent/api"
)

// The audit says every field a config change sets, the MTU too, old → new.
func TestDescribeConfig(t *testing.T) {
	prev := &api.LinkConfig{Mode: "static", Addresses: []string{"10.0.0.2/24"}, MTU: 1500}
	next := LinkConfig{Mode: "static", Addresses: []string{"10.0.0.2/24"}, MTU: 1300, DNS: []string{"10.0.0.1"}}
	if got, want := describeConfig(prev, next), "dns (none) → 10.0.0.1; mtu 1500 → 1300"; got != want {
		t.Errorf("describeConfig = %q, want %q", got, want)
	}
	if got := describeConfig(nil, next); got != "mode static; addresses 10.0.0.2/24; gateway (none); dns 10.0.0.1; mtu 1300" {
		t.Errorf("without a confirmed config: %q", got)
	}
}
