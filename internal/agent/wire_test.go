package agent

import (
	"testing"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/netif"
)

// The audit says every field a change changes, old → new.
func TestDescribeChanges(t *testing.T) {
	t.Parallel()
	cs := []change.FieldChange{{Field: "dns", New: "10.0.0.1"}, {Field: "mtu", Old: "1500", New: "1300"}, {Field: "gateway", Old: "10.0.0.1"}}
	if got, want := describeChanges(cs), "dns (none) → 10.0.0.1; mtu 1500 → 1300; gateway 10.0.0.1 → (none)"; got != want {
		t.Errorf("describeChanges = %q, want %q", got, want)
	}
	if got := describeChanges(nil); got != "no field changed" {
		t.Errorf("describeChanges(nil) = %q", got)
	}
}

// The DHCP states pass from netif to the wire as they are.
func TestDHCPStatesMatch(t *testing.T) {
	t.Parallel()
	if api.DHCPWaiting != netif.DHCPWaiting || api.DHCPBound != netif.DHCPBound {
		t.Errorf("api's DHCP states %q/%q, netif's %q/%q", api.DHCPWaiting, api.DHCPBound, netif.DHCPWaiting, netif.DHCPBound)
	}
}
