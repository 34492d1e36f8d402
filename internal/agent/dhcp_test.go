package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dhcpsrv"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/testing/dnsmasqtest"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// fakeDnsmasq counts the restarts and SIGHUPs a DHCP change sends.
type fakeDnsmasq struct {
	mu             sync.Mutex
	restarts, hups int
}

func (f *fakeDnsmasq) Restart(context.Context, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts++
	return nil
}

func (f *fakeDnsmasq) reload(string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hups++
	return nil
}

func (f *fakeDnsmasq) signals() [2]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return [2]int{f.restarts, f.hups}
}

// startDHCPAgent serves an agent whose DHCP module runs on a temporary
// device as devmgr provision installs it (root), with a fake dnsmasq; the
// real dnsmasq --test checks every change. The device has root removed
// when provisioned is false.
func startDHCPAgent(t *testing.T, provisioned bool) (*testAgent, *fakeDnsmasq, string) {
	t.Helper()
	testutil.RequireBinary(t, "dnsmasq")
	ta := newTestAgent(t)
	root, f := t.TempDir(), &fakeDnsmasq{}
	cfg := config.Default()
	cfg.Agent.StateDir = t.TempDir()
	if provisioned {
		dnsmasqtest.Install(t, root, device.DnsmasqConf, cfg, dnsmasq.Options{LeaseFile: dnsmasq.DefaultLeaseFile})
	}
	m, err := dhcpsrv.New(dhcpsrv.Config{Cfg: cfg, Changes: ta.changes, Root: root, Services: f, Reload: f.reload,
		Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	ta.start(func(c *Config) { c.DHCP = m })
	return ta, f, root
}

func TestDHCPOverAPI(t *testing.T) {
	ta, dns, root := startDHCPAgent(t, true)
	ctx := context.Background()
	c := ta.client

	got, err := c.APDHCP(ctx, viewer)
	if err != nil {
		t.Fatal(err)
	}
	want := api.APDHCP{Start: "192.168.4.2", End: "192.168.4.20", LeaseTime: 86400, StaticLeases: []api.StaticLease{},
		Address: "192.168.4.1/24", MaxStaticLeases: dhcpsrv.MaxStaticLeases}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /v1/ap/dhcp (-want +got):\n%s", diff)
	}

	// Only admins change it; the agent checks the role again.
	leases := []api.StaticLease{{MAC: "02:00:00:00:00:01", IP: "192.168.4.50", Hostname: "printer"}}
	for _, a := range []Actor{viewer, operator} {
		if _, err := c.APDHCPUpdate(ctx, a, api.APDHCPUpdate{StaticLeases: &leases}); !IsStatus(err, http.StatusForbidden) {
			t.Errorf("%s PUT: %v, want 403", a.Role, err)
		}
		if _, err := c.APDHCPConfirm(ctx, a, "0123456789abcdef"); !IsStatus(err, http.StatusForbidden) {
			t.Errorf("%s confirm: %v, want 403", a.Role, err)
		}
	}
	if e, ok := ta.audit.find(actAPDHCP, "denied"); !ok || e.User != viewer.User {
		t.Errorf("audit of the refused change: %+v %v", e, ok)
	}

	// Static leases and the lease time; the range stays.
	ch, err := c.APDHCPUpdate(ctx, admin, api.APDHCPUpdate{StaticLeases: &leases, LeaseTime: ptr[int64](3600)})
	if err != nil {
		t.Fatal(err)
	}
	wantChanges := []api.FieldChange{{Field: "lease_time", Old: "24h", New: "1h"},
		{Field: "static_lease", Old: "", New: "02:00:00:00:00:01 192.168.4.50 printer"}}
	if diff := cmp.Diff(wantChanges, ch.Changes); diff != "" || ch.Status != api.StatusPending || ch.User != admin.User ||
		!cmp.Equal([]string{"lease_time", "static_leases"}, ch.Fields) {
		t.Errorf("202 answer %+v; changes (-want +got):\n%s", ch, diff)
	}
	if got := dns.signals(); got != [2]int{1, 0} {
		t.Errorf("restarts, SIGHUPs = %v: a new lease time restarts dnsmasq", got)
	}
	if b, err := os.ReadFile(filepath.Join(root, device.DnsmasqHosts)); err != nil || !strings.Contains(string(b), "02:00:00:00:00:01,192.168.4.50,printer\n") {
		t.Errorf("hosts file: %s %v", b, err)
	}
	got, err = c.APDHCP(ctx, viewer)
	if err != nil || got.Pending == nil || got.Pending.ID != ch.ID || got.LeaseTime != 3600 || len(got.StaticLeases) != 1 {
		t.Errorf("GET while pending: %+v %v", got, err)
	}
	// One change at a time, whatever the module.
	if _, err := c.APDHCPUpdate(ctx, admin, api.APDHCPUpdate{End: ptr("192.168.4.30")}); !IsStatus(err, http.StatusConflict) ||
		!strings.Contains(err.Error(), "DHCP change "+ch.ID+" is pending") {
		t.Errorf("second change: %v, want 409 naming the pending DHCP change", err)
	}
	// Other modules' confirm routes do not know it.
	if _, err := c.Confirm(ctx, admin, ch.ID); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("network confirm of a DHCP change: %v, want 404", err)
	}
	if got, err := c.APDHCPConfirm(ctx, admin, ch.ID); err != nil || got.Status != api.StatusConfirmed || got.FinishedAt == nil {
		t.Fatalf("confirm: %+v %v", got, err)
	}
	if got, err := c.APDHCPChange(ctx, viewer, ch.ID); err != nil || got.Status != api.StatusConfirmed {
		t.Errorf("GET change: %+v %v", got, err)
	}
	if _, err := c.APDHCPConfirm(ctx, admin, ch.ID); !IsStatus(err, http.StatusConflict) {
		t.Errorf("confirming twice: %v, want 409", err)
	}
	if _, err := c.APDHCPChange(ctx, viewer, "0123456789abcdef"); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("unknown change: %v, want 404", err)
	}
	if e, ok := ta.audit.find(actAPDHCP, "ok"); !ok || e.Target != dhcpTarget ||
		!strings.Contains(e.Detail, "lease_time 24h → 1h") || !strings.Contains(e.Detail, "static_lease (none) → 02:00:00:00:00:01 192.168.4.50 printer") {
		t.Errorf("audit of the change: %+v %v", e, ok)
	}
	if e, ok := ta.audit.find(actAPDHCPConfirm, "ok"); !ok || e.User != admin.User || !strings.Contains(e.Detail, ch.ID) {
		t.Errorf("audit of the confirm: %+v %v", e, ok)
	}

	// Removing every static lease, unconfirmed: a SIGHUP, then rolled back
	// by the agent, who says so in the audit log.
	none := []api.StaticLease{}
	ch, err = c.APDHCPUpdate(ctx, admin, api.APDHCPUpdate{StaticLeases: &none})
	if err != nil {
		t.Fatal(err)
	}
	if got := dns.signals(); got != [2]int{1, 1} {
		t.Errorf("restarts, SIGHUPs = %v: static leases alone are a SIGHUP", got)
	}
	ta.timers.Fire(t)
	if got, err := c.APDHCPChange(ctx, viewer, ch.ID); err != nil || got.Status != api.StatusRolledBack {
		t.Errorf("after its time: %+v %v", got, err)
	}
	if got, err := c.APDHCP(ctx, viewer); err != nil || len(got.StaticLeases) != 1 || got.Pending != nil {
		t.Errorf("after the rollback: %+v %v", got, err)
	}
	if e, ok := ta.audit.find(actAPDHCPRollback, "ok"); !ok || e.User != "agent" || e.Target != dhcpTarget || !strings.Contains(e.Detail, ch.ID) {
		t.Errorf("audit of the rollback: %+v %v", e, ok)
	}
}

// A request with bad fields names every one of them at once, and changes
// nothing.
func TestDHCPBadFields(t *testing.T) {
	ta, dns, _ := startDHCPAgent(t, true)
	body := `{"start":"192.168.5.2","end":"192.168.4.1","lease_time":60,"static_leases":[` +
		`{"mac":"02:00:00:00:00:01","ip":"192.168.4.50"},{"mac":"01:00:5e:00:00:01","ip":"192.168.4.50","hostname":"a_b"}]}`
	status, e := raw(t, ta.socket, http.MethodPut, "/v1/ap/dhcp", &admin, body)
	want := []api.FieldProblem{{Field: "start"}, {Field: "end"}, {Field: "lease_time"},
		{Field: "static_leases[1].mac"}, {Field: "static_leases[1].ip"}, {Field: "static_leases[1].hostname"}}
	if diff := cmp.Diff(want, e.Fields, cmpopts.IgnoreFields(api.FieldProblem{}, "Message")); status != http.StatusBadRequest || e.Field != "start" || diff != "" {
		t.Errorf("%d %+v; fields (-want +got):\n%s", status, e, diff)
	}
	for _, tt := range []struct{ body, field string }{
		{`{"lease_time":"1h"}`, "lease_time"},
		{`{"static_leases":[{"mac":"02:00:00:00:00:01","ip":"192.168.4.50","tag":"x"}]}`, "tag"},
		{`{"dhcp_option":"x"}`, "dhcp_option"},
		{`{"start":""}`, "start"},
	} {
		if status, e := raw(t, ta.socket, http.MethodPut, "/v1/ap/dhcp", &admin, tt.body); status != http.StatusBadRequest || e.Field != tt.field {
			t.Errorf("%s: %d %+v, want 400 naming %s", tt.body, status, e, tt.field)
		}
	}
	if status, e := raw(t, ta.socket, http.MethodPut, "/v1/ap/dhcp", &admin, `{}`); status != http.StatusConflict {
		t.Errorf("nothing to change: %d %+v, want 409", status, e)
	}
	if got := dns.signals(); got != [2]int{} {
		t.Errorf("refused requests signalled dnsmasq: %v", got)
	}
	if _, ok := ta.changes.Pending(); ok {
		t.Error("a refused request left a change")
	}
}

// Where the agent cannot apply a change, the answer is a 503 sentence
// without a path or an error chain; GET says the same as its problem.
func TestDHCPUnavailable(t *testing.T) {
	ta, _, _ := startDHCPAgent(t, false)
	ctx := context.Background()
	got, err := ta.client.APDHCP(ctx, viewer)
	if err != nil || !strings.Contains(got.Problem, "devmgr provision") || got.Start != "192.168.4.2" {
		t.Errorf("GET: %+v %v", got, err)
	}
	leases := []api.StaticLease{{MAC: "02:00:00:00:00:01", IP: "192.168.4.50"}}
	_, err = ta.client.APDHCPUpdate(ctx, admin, api.APDHCPUpdate{StaticLeases: &leases})
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || e.Message != got.Problem || strings.Contains(e.Message, "/") {
		t.Errorf("PUT: %v, want 503 saying %q", err, got.Problem)
	}

	// An agent without the module.
	ta = startAgent(t, nil)
	if _, err := ta.client.APDHCP(ctx, viewer); !IsStatus(err, http.StatusServiceUnavailable) {
		t.Errorf("GET without the module: %v, want 503", err)
	}
}
