package agent

import (
	"context"
	"github.com/devmgr/devmgr/internal/agent/api"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// labAgent serves the real netif backend on the lab's device namespace;
// its rollback timers fire when the test says (ta.timers).
func labAgent(t *testing.T) (*testAgent, *lab.Lab, *netif.Handle) {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "ping")
	l := lab.NewT(t, lab.Options{NoServers: true})
	cfg := l.Config(t.TempDir())
	h, err := netif.OpenAt(l.NSPath(lab.Device))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ta := newTestAgent(t)
	ta.changes = newEngine(t, ta.audit, ta.timers) // netif's, not the fake network's
	ch, err := netif.NewChanger(netif.Config{Handle: h, AppConfig: cfg, Changes: ta.changes, Dir: t.TempDir(),
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	live, err := netif.NewLive(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	ta.start(func(c *Config) {
		c.Network = &NetifNetwork{Handle: h, Changer: ch, Live: live, Config: cfg}
	})
	return ta, l, h
}

func snapshotAll(t *testing.T, h *netif.Handle) map[string]netif.State {
	t.Helper()
	return lab.DeviceState(t, func(n string) (netif.State, error) { return h.Snapshot(context.Background(), n) })
}

// TestLabBadInputs sends invalid changes to the real backend: each gets a
// 4xx naming its field and the device's state stays exactly as it was.
func TestLabBadInputs(t *testing.T) {
	ta, _, h := labAgent(t)
	before := snapshotAll(t, h)
	static := func(extra string) string {
		return `{"mode":"static","addresses":["10.0.0.2/24"]` + extra + `}`
	}
	tests := []struct {
		method, path, body string
		status             int
		field              string
	}{
		{"PUT", "eth1/config", `{"mode":""}`, 400, "mode"},
		{"PUT", "eth1/config", `{"mode":"manual"}`, 400, "mode"},
		{"PUT", "eth1/config", `{}`, 400, "mode"},
		{"PUT", "eth1/config", `{"mode":"dhcp"}`, 400, "mode"}, // no DHCP client in this agent
		{"PUT", "eth1/config", `{"mode":"dhcp","addresses":["10.0.0.2/24"]}`, 400, "addresses"},
		{"PUT", "eth1/config", `{"mode":"dhcp","gateway":"10.0.0.1"}`, 400, "gateway"},
		{"PUT", "eth1/config", `{"mode":"dhcp","dns":["192.0.2.53"]}`, 400, "dns"},
		{"PUT", "eth1/config", `{"mode":"static"}`, 400, "addresses"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":[]}`, 400, "addresses"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":["10.0.0.2"]}`, 400, "addresses[0]"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":["10.0.0.0/24"]}`, 400, "addresses[0]"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":["10.0.0.255/24"]}`, 400, "addresses[0]"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":["127.0.0.2/8"]}`, 400, "addresses[0]"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":["224.0.0.5/24"]}`, 400, "addresses[0]"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":["169.254.1.1/16"]}`, 400, "addresses[0]"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":["fe80::2/64"]}`, 400, "addresses[0]"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":["192.0.2.50/24"]}`, 400, "addresses[0]"}, // the AP network
		{"PUT", "eth1/config", `{"mode":"static","addresses":["10.0.0.2/24","10.0.0.2/24"]}`, 400, "addresses[1]"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":["10.0.0.2/4"]}`, 400, "addresses[0]"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":["10.0.0.2/33"]}`, 400, "addresses[0]"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":["10.0.0.2/24","-x"]}`, 400, "addresses[1]"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":["` + strings.Repeat(`10.0.0.2/24","`, 16) + `10.0.1.2/24"]}`, 400, "addresses"},
		{"PUT", "eth1/config", static(`,"gateway":"10.0.1.1"`), 400, "gateway"},
		{"PUT", "eth1/config", static(`,"gateway":"router"`), 400, "gateway"},
		{"PUT", "eth1/config", static(`,"gateway":"10.0.0.2"`), 400, "gateway"},
		{"PUT", "eth1/config", static(`,"gateway":"10.0.0.0"`), 400, "gateway"},
		{"PUT", "eth1/config", static(`,"gateway":"10.0.0.255"`), 400, "gateway"},
		{"PUT", "eth1/config", static(`,"dns":["dns.example"]`), 400, "dns[0]"},
		{"PUT", "eth1/config", static(`,"dns":["192.0.2.53","x"]`), 400, "dns[1]"},
		{"PUT", "eth1/config", static(`,"dns":["0.0.0.0"]`), 400, "dns[0]"},
		{"PUT", "eth1/config", static(`,"dns":["10.0.0.1","10.0.0.3","10.0.0.4","10.0.0.5","10.0.0.6"]`), 400, "dns"},
		{"PUT", "eth1/config", static(`,"mtu":100`), 400, "mtu"},
		{"PUT", "eth1/config", static(`,"mtu":9001`), 400, "mtu"},
		{"PUT", "eth1/config", static(`,"mtu":-1`), 400, "mtu"},
		{"PUT", "eth1/config", static(`,"mtu":"1500"`), 400, "mtu"},
		{"PUT", "eth1/config", static(`,"vlan":5`), 400, "vlan"},
		{"PUT", "eth1/config", static(`,"up":"yes"`), 400, "up"},
		{"PUT", "eth1/config", `{"mode":"static","addresses":"10.0.0.2/24"}`, 400, "addresses"},
		{"PUT", "eth9/config", static(""), 400, "name"},
		{"PUT", "eth0/config", static(""), 400, "name"}, // an uplink
		{"PUT", "lo/config", static(""), 400, "name"},
		{"PUT", "wlan0/config", static(""), 403, "name"},
		{"POST", "wlan0/down", "", 403, "name"},
		{"POST", "wlan0/up", "", 403, "name"},
		{"POST", "eth0/down", "", 400, "name"},
		{"POST", "eth9/up", "", 400, "name"},
	}
	if len(tests) < 30 {
		t.Fatalf("only %d bad inputs", len(tests))
	}
	for _, tt := range tests {
		status, e := raw(t, ta.socket, tt.method, "/v1/interfaces/"+tt.path, &admin, tt.body)
		if status != tt.status || e.Field != tt.field {
			t.Errorf("%s %s %s: %d %+v, want %d naming %q", tt.method, tt.path, tt.body, status, e, tt.status, tt.field)
		}
	}
	// Several bad fields: the first names the answer, all are listed.
	status, e := raw(t, ta.socket, "PUT", "/v1/interfaces/eth1/config", &admin,
		`{"mode":"static","addresses":["10.0.0.2"],"gateway":"router","dns":["x"],"mtu":1}`)
	want := []api.FieldProblem{{Field: "addresses[0]"}, {Field: "gateway"}, {Field: "dns[0]"}, {Field: "mtu"}}
	ignoreText := cmpopts.IgnoreFields(api.FieldProblem{}, "Message")
	if status != 400 || e.Field != "addresses[0]" || !cmp.Equal(want, e.Fields, ignoreText) {
		t.Errorf("several bad fields: %d %+v, want 400 naming each", status, e)
	}
	if diff := cmp.Diff(before, snapshotAll(t, h)); diff != "" {
		t.Errorf("state changed by refused requests (-before +after):\n%s", diff)
	}
	if h, err := ta.client.Health(context.Background()); err != nil || h.Pending != nil {
		t.Errorf("a refused request left a change: %+v %v", h, err)
	}
	var refused int
	for _, e := range ta.audit.all() {
		if e.Result == "invalid" || e.Result == "denied" {
			refused++
		}
	}
	if refused != len(tests)+1 {
		t.Errorf("%d refusals audited, want %d", refused, len(tests))
	}
}

// TestLabChanges drives a static config, a conflicting second change, a
// confirm, and an unconfirmed change that rolls back, through the API.
func TestLabChanges(t *testing.T) {
	ta, l, h := labAgent(t)
	ctx := context.Background()
	c := ta.client

	ifs, err := c.Interfaces(ctx, viewer)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, i := range ifs {
		roles[i.Name] = i.Role
	}
	if diff := cmp.Diff(map[string]string{"lo": "", "wlan0": RoleAP, "eth0": RoleUplink, "eth1": RoleLAN}, roles); diff != "" {
		t.Errorf("interface roles (-want +got):\n%s", diff)
	}

	ch, err := c.SetConfig(ctx, admin, "eth1", api.LinkConfig{Mode: "static", Addresses: []string{lab.LANDeviceAddr}})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Status != StatusPending || ch.Interface != "eth1" || ch.RollbackAt.Before(time.Now()) {
		t.Errorf("change %+v", ch)
	}
	if _, err := c.SetUp(ctx, admin, "eth1", false); !IsStatus(err, http.StatusConflict) {
		t.Errorf("second change: %v, want 409", err)
	}
	if out, err := l.Exec(ctx, lab.Device, "ping", "-n", "-c", "1", "-W", "2", lab.LANHostIP); err != nil {
		t.Errorf("LAN host unreachable after the static config: %v\n%s", err, out)
	}
	if got, err := c.Confirm(ctx, admin, ch.ID); err != nil || got.Status != StatusConfirmed {
		t.Fatalf("confirm: %+v %v", got, err)
	}
	if _, err := c.Confirm(ctx, admin, ch.ID); !IsStatus(err, http.StatusConflict) {
		t.Errorf("confirming twice: %v, want 409", err)
	}
	eth1, err := c.Interface(ctx, viewer, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if eth1.Mode != "static" || eth1.Config == nil || !slices.Contains(eth1.Addresses, lab.LANDeviceAddr) {
		t.Errorf("eth1 after confirm: %+v", eth1)
	}

	// Down, unconfirmed: rolled back when its time comes.
	before := snapshotAll(t, h)
	down, err := c.SetUp(ctx, admin, "eth1", false)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := h.Snapshot(ctx, "eth1"); st.AdminUp {
		t.Error("eth1 still up after the down change")
	}
	ta.timers.Fire(t)
	if got, err := c.Change(ctx, viewer, down.ID); err != nil || got.Status != StatusRolledBack {
		t.Fatalf("change after its rollback time: %+v %v", got, err)
	}
	if diff := cmp.Diff(before, snapshotAll(t, h)); diff != "" {
		t.Errorf("state after rollback differs (-before +after):\n%s", diff)
	}
	// The agent records the rollback it did on its own, as it does it.
	if e, ok := ta.audit.find(actRollback, "ok"); !ok || e.User != "agent" || e.Target != "eth1" || !strings.Contains(e.Detail, down.ID) {
		t.Errorf("rollback audit %+v %v", e, ok)
	}
}

// TestPingOverAPI runs the real ping through the agent and the client:
// lines reach the client while ping still runs.
func TestPingOverAPI(t *testing.T) {
	testutil.RequireBinary(t, "ping")
	ta := startAgent(t, func(c *Config) { c.Diag = Tools{} })
	var first time.Time
	var lines []string
	res, err := ta.client.Ping(context.Background(), operator, diagPing("127.0.0.1", 3), func(s string) {
		if strings.Contains(s, "bytes from") && first.IsZero() {
			first = time.Now()
		}
		lines = append(lines, s)
	})
	end := time.Now()
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("ping: %+v %v %q", res, err, lines)
	}
	if first.IsZero() || end.Sub(first) < 1500*time.Millisecond {
		t.Errorf("first reply reached the client %v before the end: not streamed (%q)", end.Sub(first), lines)
	}
	if e, ok := ta.audit.find(actPing, "ok"); !ok || e.Target != "127.0.0.1" || !strings.Contains(e.Detail, "count 3") {
		t.Errorf("audit: %+v", ta.audit.all())
	}
}
