package apmgr_test

import (
	"testing"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/provision"
)

// apmgr repeats provision's paths (provision may come to import apmgr for
// Effective); they must stay the same.
func TestDefaultsMatchProvision(t *testing.T) {
	for _, c := range []struct{ ours, theirs string }{
		{apmgr.DefaultHostapdConf, provision.HostapdConf},
		{apmgr.DefaultDenyFile, provision.HostapdDeny},
		{apmgr.DefaultService, provision.UnitHostapd},
	} {
		if c.ours != c.theirs {
			t.Errorf("apmgr has %q where provision has %q", c.ours, c.theirs)
		}
	}
}
