package backup

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// In a lab namespace: a restore that changes the LAN address is a change
// that rolls back by itself unless confirmed, and is kept when it is.
func TestAgentRestorerLANRollsBack(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip")
	ctx := context.Background()
	l := lab.NewT(t, lab.Options{NoServers: true})
	h, err := netif.OpenAt(l.NSPath(lab.Device))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	dir := t.TempDir()
	cfg := l.Config(filepath.Join(dir, "data"))
	timers := &testutil.Timers{}
	eng, err := change.New(change.Config{Dir: filepath.Join(dir, "changes"), Timeout: time.Minute, AfterFunc: timers.After})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	nc, err := netif.NewChanger(netif.Config{Handle: h, AppConfig: cfg, Changes: eng, Dir: filepath.Join(dir, "network")})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewAgentRestorer(AgentRestorerConfig{Changes: eng, Network: nc})
	if err != nil {
		t.Fatal(err)
	}
	before, err := h.Snapshot(ctx, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	s := AgentState{LAN: map[string]netif.LinkConfig{"eth1": {Mode: netif.ModeStatic, Addresses: []string{"10.77.0.2/24"}, Gateway: "10.77.0.1"}}}
	hasAddress := func() bool {
		st, err := h.Snapshot(ctx, "eth1")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range st.Addresses {
			if a.CIDR == "10.77.0.2/24" {
				return true
			}
		}
		return false
	}

	ch, err := r.Restore(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if !hasAddress() {
		t.Fatal("the restored address is not on eth1 while the change is pending")
	}
	timers.Fire(t)
	if got, _ := eng.Get(ch.ID); got.Status != change.StatusRolledBack || got.Error != "" {
		t.Fatalf("not confirmed: %+v", got)
	}
	after, err := h.Snapshot(ctx, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("eth1 after the rollback (-before +after):\n%s", diff)
	}
	if _, ok := nc.Desired("eth1"); ok {
		t.Error("a rolled-back restore left a confirmed config")
	}

	ch, err = r.Restore(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Confirm(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	if !hasAddress() {
		t.Error("the confirmed address is gone")
	}
	got, err := netif.ReadDesired(cfg, filepath.Join(dir, "network"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s.LAN, got); diff != "" {
		t.Errorf("confirmed configs (-want +got):\n%s", diff)
	}
}
