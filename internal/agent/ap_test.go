package agent

import (
	"context"
	"github.com/devmgr/devmgr/internal/agent/api"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/testing/apmgrtest"
)

func ptr[T any](v T) *T { return &v }

// startAPAgent serves an agent whose AP module runs on a temporary device
// with a fake hostapd reporting two stations.
func startAPAgent(t *testing.T, o apmgrtest.Options) (*testAgent, *apmgrtest.Device) {
	t.Helper()
	ta := newTestAgent(t)
	o.Changes = ta.changes
	dev := apmgrtest.New(t, o)
	ta.start(func(c *Config) { c.AP = dev.Manager })
	return ta, dev
}

func TestAPRoles(t *testing.T) {
	ta, dev := startAPAgent(t, apmgrtest.Options{})
	ctx := context.Background()
	c := ta.client
	if _, err := c.AP(ctx, viewer); err != nil {
		t.Errorf("viewer GET /v1/ap: %v", err)
	}
	if _, err := c.APClients(ctx, viewer); err != nil {
		t.Errorf("viewer GET /v1/ap/clients: %v", err)
	}
	if _, err := c.APDenied(ctx, viewer); err != nil {
		t.Errorf("viewer GET /v1/ap/deny: %v", err)
	}
	for _, a := range []Actor{viewer, operator} {
		if _, err := c.APUpdate(ctx, a, APUpdate{SSID: ptr("Mine")}); !IsStatus(err, http.StatusForbidden) {
			t.Errorf("%s PUT settings: %v, want 403", a.Role, err)
		}
		if _, err := c.APConfirm(ctx, a, "0123456789abcdef"); !IsStatus(err, http.StatusForbidden) {
			t.Errorf("%s confirm: %v, want 403", a.Role, err)
		}
		if _, err := c.APDeny(ctx, a, "02:00:00:00:01:00"); !IsStatus(err, http.StatusForbidden) {
			t.Errorf("%s deny: %v, want 403", a.Role, err)
		}
		if _, err := c.APAllow(ctx, a, "02:00:00:00:01:00"); !IsStatus(err, http.StatusForbidden) {
			t.Errorf("%s allow: %v, want 403", a.Role, err)
		}
	}
	if e, ok := ta.audit.find(actAPUpdate, "denied"); !ok || e.User != viewer.User || e.Target != "" && e.Target != apTarget {
		t.Errorf("audit of the refused update: %+v %v", e, ok)
	}
	if e, ok := ta.audit.find(actAPAllow, "denied"); !ok || e.Target != "02:00:00:00:01:00" {
		t.Errorf("audit of the refused allow: %+v %v", e, ok)
	}
	for _, cmd := range dev.Hostapd.Commands() {
		if cmd == "RELOAD" || strings.HasPrefix(cmd, "DEAUTHENTICATE") {
			t.Errorf("a refused request reached hostapd: %s", cmd)
		}
	}
	// Without the header of an actor, nothing.
	if st, _ := raw(t, ta.socket, http.MethodGet, "/v1/ap", nil, ""); st != http.StatusBadRequest {
		t.Errorf("GET /v1/ap without actor: %d, want 400", st)
	}
}

func TestAPStatusAndClients(t *testing.T) {
	ta, _ := startAPAgent(t, apmgrtest.Options{})
	ctx := context.Background()
	info, err := ta.client.AP(ctx, viewer)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Status
	if !st.Running || st.State != "ENABLED" || st.SSID != "DeviceManager" || st.Channel != 6 || st.Frequency != 2437 ||
		st.Clients != 2 || st.Security != "wpa2-wpa3" || st.Country != "US" || st.Problem != "" {
		t.Errorf("status %+v", st)
	}
	want := api.APSettings{SSID: "DeviceManager", PassphraseSet: true, Security: "wpa2-wpa3", Band: "2.4ghz", Channel: 6, Country: "US"}
	if diff := cmp.Diff(want, info.Settings); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	if info.Denied == nil || len(info.Denied) != 0 {
		t.Errorf("denied %#v, want []", info.Denied)
	}
	// The passphrase never leaves the agent.
	body := rawBody(t, ta.socket, http.MethodGet, "/v1/ap", &viewer, "")
	if strings.Contains(body, apmgrtest.Passphrase) || strings.Contains(body, `"passphrase":`) {
		t.Errorf("GET /v1/ap shows the passphrase: %s", body)
	}

	cl, err := ta.client.APClients(ctx, viewer)
	if err != nil {
		t.Fatal(err)
	}
	if len(cl) != 2 {
		t.Fatalf("clients %+v", cl)
	}
	if c := cl[0]; c.MAC != "02:00:00:00:01:00" || c.IP != "192.168.4.10" || c.Hostname != "phone" || c.Signal != -38 ||
		c.ConnectedSeconds != 754 || c.RxBytes != 6_311_204 || c.TxBytes != 31_457_280 || !c.Authorized || c.KeyMgmt != "SAE" {
		t.Errorf("first client %+v", c)
	}
	if c := cl[1]; c.Hostname != "laptop" || c.IP != "192.168.4.11" {
		t.Errorf("second client %+v", c)
	}
}

func TestAPWithoutHostapd(t *testing.T) {
	ta, _ := startAPAgent(t, apmgrtest.Options{NoHostapd: true})
	ctx := context.Background()
	info, err := ta.client.AP(ctx, viewer)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status.Running || !strings.Contains(info.Status.Problem, "hostapd is not running") {
		t.Errorf("status without hostapd: %+v", info.Status)
	}
	if _, err := ta.client.APClients(ctx, viewer); !IsStatus(err, http.StatusServiceUnavailable) {
		t.Errorf("clients without hostapd: %v, want 503", err)
	}
	// A change that cannot reach hostapd is undone and says why.
	if _, err := ta.client.APUpdate(ctx, admin, APUpdate{SSID: ptr("Other")}); !IsStatus(err, http.StatusServiceUnavailable) {
		t.Errorf("update without hostapd: %v, want 503", err)
	}
	if info, _ := ta.client.AP(ctx, viewer); info.Settings.SSID != "DeviceManager" {
		t.Errorf("failed update left SSID %q", info.Settings.SSID)
	}

	tb := startAgent(t, nil) // no AP module at all
	if _, err := tb.client.AP(ctx, viewer); !IsStatus(err, http.StatusServiceUnavailable) {
		t.Errorf("agent without AP: %v, want 503", err)
	}
}

// With hostapd down, every AP action answers a sentence a user can act on
// (the page shows it, the audit keeps it): never the control socket's path
// nor the dial error, which go to the agent's log.
func TestAPDownAnswersASentence(t *testing.T) {
	ta, _ := startAPAgent(t, apmgrtest.Options{NoHostapd: true})
	ctx := context.Background()
	c := ta.client
	checkMsg := func(what, msg string) {
		t.Helper()
		if strings.Contains(msg, "/") || strings.Contains(msg, "dial unix") || strings.Contains(msg, "connect:") {
			t.Errorf("%s: %q names a path or a Go error chain", what, msg)
		}
		if !strings.Contains(msg, "not running or not answering") || !strings.Contains(msg, "devmgr ap status") {
			t.Errorf("%s: %q does not say what is wrong and where to look", what, msg)
		}
	}
	for _, a := range []struct {
		what string
		call func() error
	}{
		{"clients", func() error { _, err := c.APClients(ctx, viewer); return err }},
		{"settings change", func() error { _, err := c.APUpdate(ctx, admin, APUpdate{SSID: ptr("Other")}); return err }},
		{"block", func() error { _, err := c.APDeny(ctx, admin, "02:00:00:00:01:00"); return err }},
	} {
		err := a.call()
		e, ok := api.AsError(err)
		if !ok || e.Status != http.StatusServiceUnavailable {
			t.Errorf("%s without hostapd: %v, want 503", a.what, err)
			continue
		}
		checkMsg(a.what, e.Message)
	}
	for _, action := range []string{actAPUpdate, actAPDeny} {
		e, ok := ta.audit.find(action, "failed")
		if !ok {
			t.Errorf("no failed %s in the audit: %+v", action, ta.audit.all())
			continue
		}
		checkMsg("audit of "+action, e.Detail)
	}
	// The settings change was rolled back completely: the files are the
	// old ones, which a hostapd that starts reads.
	if e, ok := ta.audit.find(actAPRollback, "ok"); !ok {
		t.Errorf("no complete rollback of the settings change in the audit: %+v", ta.audit.all())
	} else if strings.Contains(e.Detail, "/") {
		t.Errorf("rollback audit %q names a path", e.Detail)
	}
	if logs := ta.logs.String(); !strings.Contains(logs, "hostapd") || !strings.Contains(logs, "wlan0") {
		t.Errorf("the agent's log lacks the full error:\n%s", logs)
	}
}

func TestAPUpdateConfirm(t *testing.T) {
	ta, dev := startAPAgent(t, apmgrtest.Options{})
	ctx := context.Background()
	c := ta.client
	before := time.Now()
	ch, err := c.APUpdate(ctx, admin, APUpdate{SSID: ptr("Workshop"), Channel: ptr(11), Passphrase: ptr("a brand new passphrase")})
	if err != nil {
		t.Fatal(err)
	}
	if ch.ID == "" || ch.Status != apmgr.StatusPending || ch.RollbackAt.Before(before.Add(50*time.Second)) {
		t.Errorf("change %+v", ch)
	}
	if diff := cmp.Diff([]string{"ssid", "passphrase", "channel"}, ch.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if n := len(ch.Changes); ch.User != admin.User || n != 3 || ch.Changes[0].New != "Workshop" ||
		ch.Changes[1] != (api.FieldChange{Field: "passphrase", New: "changed"}) || ch.Changes[2].New != "11" {
		t.Errorf("who and what: %q %+v", ch.User, ch.Changes)
	}
	if b := rawBody(t, ta.socket, "GET", "/v1/ap/changes/"+ch.ID, &viewer, ""); strings.Contains(b, "brand new") || !strings.Contains(b, `"new":"Workshop"`) {
		t.Errorf("GET change shows %s", b)
	}
	// hostapd reloaded the new config.
	if got := dev.Hostapd.SSID(); got != "Workshop" {
		t.Errorf("hostapd broadcasts %q after the change", got)
	}
	conf := string(dev.Read(t, apmgr.DefaultHostapdConf))
	if !strings.Contains(conf, "\nchannel=11\n") || !strings.Contains(conf, "a brand new passphrase") {
		t.Errorf("hostapd config not rewritten:\n%s", conf)
	}
	info, err := c.AP(ctx, viewer)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status.SSID != "Workshop" || info.Status.Channel != 11 || info.Status.Frequency != 2462 ||
		info.Status.Pending == nil || info.Status.Pending.ID != ch.ID {
		t.Errorf("status while pending %+v", info.Status)
	}
	// One change at a time.
	if _, err := c.APUpdate(ctx, admin, APUpdate{SSID: ptr("Third")}); !IsStatus(err, http.StatusConflict) {
		t.Errorf("second update while pending: %v, want 409", err)
	}
	got, err := c.APChange(ctx, viewer, ch.ID)
	if err != nil || got.Status != apmgr.StatusPending {
		t.Errorf("GET change: %+v %v", got, err)
	}
	done, err := c.APConfirm(ctx, admin, ch.ID)
	if err != nil || done.Status != apmgr.StatusConfirmed {
		t.Fatalf("confirm: %+v %v", done, err)
	}
	if _, err := c.APConfirm(ctx, admin, ch.ID); !IsStatus(err, http.StatusConflict) {
		t.Errorf("confirming twice: %v, want 409", err)
	}
	if _, err := c.APChange(ctx, viewer, "00000000deadbeef"); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("unknown change: %v, want 404", err)
	}
	if _, err := c.APConfirm(ctx, admin, "not-an-id"); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("malformed change id: %v, want 404", err)
	}
	// The same settings again: nothing to do.
	if _, err := c.APUpdate(ctx, admin, APUpdate{SSID: ptr("Workshop")}); !IsStatus(err, http.StatusConflict) {
		t.Errorf("unchanged settings: %v, want 409", err)
	}

	e, ok := ta.audit.find(actAPUpdate, "ok")
	if !ok || e.User != admin.User || e.Source != admin.Source || !strings.Contains(e.Detail, `ssid "Workshop"`) || !strings.Contains(e.Detail, ch.ID) {
		t.Errorf("audit of the update: %+v %v", e, ok)
	}
	if e, ok := ta.audit.find(actAPConfirm, "ok"); !ok || !strings.Contains(e.Detail, ch.ID) {
		t.Errorf("audit of the confirm: %+v %v", e, ok)
	}
	for _, e := range ta.audit.all() {
		if strings.Contains(e.Detail, "brand new") {
			t.Errorf("audit entry shows the passphrase: %+v", e)
		}
	}
}

// The passphrase is read by admins only, with its settings, and appears
// in no log or audit entry of the agent's.
func TestAPSecretSettings(t *testing.T) {
	ta := newTestAgent(t)
	dev := apmgrtest.New(t, apmgrtest.Options{Changes: ta.changes,
		Log: slog.New(slog.NewTextHandler(ta.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ta.start(func(c *Config) { c.AP = dev.Manager })
	ctx := context.Background()
	c := ta.client
	for _, a := range []Actor{viewer, operator} {
		if s, err := c.APSecretSettings(ctx, a); !IsStatus(err, http.StatusForbidden) || s.Passphrase != "" {
			t.Errorf("%s GET /v1/ap/settings: %+v %v, want 403", a.Role, s, err)
		}
	}
	got, err := c.APSecretSettings(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	want := api.APSecretSettings{
		APSettings: api.APSettings{SSID: "DeviceManager", PassphraseSet: true, Security: "wpa2-wpa3", Band: "2.4ghz", Channel: 6, Country: "US"},
		Passphrase: apmgrtest.Passphrase,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	// After a change, the passphrase in force (pending or confirmed).
	if _, err := c.APUpdate(ctx, admin, APUpdate{Passphrase: ptr("a brand new passphrase")}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.APSecretSettings(ctx, admin); err != nil || got.Passphrase != "a brand new passphrase" {
		t.Errorf("after the change: %+v %v", got, err)
	}
	// The handler checks the role itself too, should a route table ever
	// open it wider.
	rec := httptest.NewRecorder()
	if err := ta.srv.apSecretSettings(rec, httptest.NewRequest(http.MethodGet, "/v1/ap/settings", nil), operator); err == nil || rec.Body.Len() != 0 {
		t.Errorf("handler answered an operator: %v %q", err, rec.Body.String())
	}
	for _, e := range ta.audit.all() {
		if strings.Contains(e.Detail, apmgrtest.Passphrase) || strings.Contains(e.Detail, "brand new") {
			t.Errorf("audit entry shows the passphrase: %+v", e)
		}
	}
	if l := ta.logs.String(); strings.Contains(l, apmgrtest.Passphrase) || strings.Contains(l, "brand new") {
		t.Errorf("the agent's log shows the passphrase:\n%s", l)
	}
}

func TestAPFieldErrors(t *testing.T) {
	ta, dev := startAPAgent(t, apmgrtest.Options{})
	for _, c := range []struct {
		body, field string
	}{
		{`{"ssid":""}`, "ssid"},
		{`{"ssid":"a\nb"}`, "ssid"},
		{`{"ssid":"` + strings.Repeat("x", 33) + `"}`, "ssid"},
		{`{"passphrase":"short"}`, "passphrase"},
		{`{"security":"wep"}`, "security"},
		{`{"channel":99}`, "channel"},
		{`{"channel":"six"}`, "channel"},
		{`{"country":"XX"}`, "country"},
		{`{"band":"60ghz"}`, "band"},
		{`{"hidden":"yes"}`, "hidden"},
		{`{"passphrase_set":false}`, "passphrase_set"},
		{`{"mtu":1500}`, "mtu"},
	} {
		st, e := raw(t, ta.socket, http.MethodPut, "/v1/ap/settings", &admin, c.body)
		if st != http.StatusBadRequest || e.Field != c.field {
			t.Errorf("PUT %s: %d field %q (%s), want 400 field %q", c.body, st, e.Field, e.Message, c.field)
		}
	}
	if n := dev.Hostapd.Count("RELOAD"); n != 0 {
		t.Errorf("refused updates reloaded hostapd %d times", n)
	}
	if e, ok := ta.audit.find(actAPUpdate, "invalid"); !ok || !strings.HasPrefix(e.Detail, "ssid: ") {
		t.Errorf("audit of an invalid update: %+v %v", e, ok)
	}
}

func TestAPRollbackAudited(t *testing.T) {
	ta, dev := startAPAgent(t, apmgrtest.Options{})
	ctx := context.Background()
	ch, err := ta.client.APUpdate(ctx, admin, APUpdate{SSID: ptr("Unconfirmed")})
	if err != nil {
		t.Fatal(err)
	}
	ta.timers.Fire(t) // the rollback time comes; the audit is written with the rollback
	if _, ok := ta.audit.find(actAPRollback, "ok"); !ok {
		t.Fatalf("no ap.rollback audited: %+v", ta.audit.all())
	}
	got, err := ta.client.APChange(ctx, viewer, ch.ID)
	if err != nil || got.Status != apmgr.StatusRolledBack {
		t.Errorf("change after timeout: %+v %v", got, err)
	}
	if s := dev.Hostapd.SSID(); s != "DeviceManager" {
		t.Errorf("hostapd broadcasts %q after the rollback", s)
	}
	if e, _ := ta.audit.find(actAPRollback, "ok"); e.User != "agent" || !strings.Contains(e.Detail, ch.ID) {
		t.Errorf("rollback audit %+v", e)
	}
	if _, err := ta.client.APConfirm(ctx, admin, ch.ID); !IsStatus(err, http.StatusConflict) {
		t.Errorf("confirming a rolled-back change: %v, want 409", err)
	}
}

func TestAPDenyAllow(t *testing.T) {
	ta, dev := startAPAgent(t, apmgrtest.Options{})
	ctx := context.Background()
	c := ta.client
	list, err := c.APDeny(ctx, admin, "02-00-00-00-02-00")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"02:00:00:00:02:00"}, list); diff != "" {
		t.Errorf("deny list (-want +got):\n%s", diff)
	}
	if !slices.Contains(dev.Hostapd.Commands(), "DEAUTHENTICATE 02:00:00:00:02:00") {
		t.Errorf("station not disconnected: %q", dev.Hostapd.Commands())
	}
	if !strings.Contains(string(dev.Read(t, apmgr.DefaultDenyFile)), "02:00:00:00:02:00") {
		t.Error("deny file lacks the station")
	}
	if cl, err := c.APClients(ctx, viewer); err != nil || len(cl) != 1 {
		t.Errorf("clients after deny: %+v %v", cl, err)
	}
	if l, err := c.APDenied(ctx, viewer); err != nil || !slices.Equal(l, list) {
		t.Errorf("GET deny: %v %v", l, err)
	}
	if e, ok := ta.audit.find(actAPDeny, "ok"); !ok || e.Target != "02:00:00:00:02:00" {
		t.Errorf("audit of deny: %+v %v", e, ok)
	}
	st, e := raw(t, ta.socket, http.MethodPost, "/v1/ap/deny", &admin, `{"mac":"not a mac"}`)
	if st != http.StatusBadRequest || e.Field != "mac" {
		t.Errorf("deny of a bad MAC: %d %+v", st, e)
	}
	list, err = c.APAllow(ctx, admin, "02:00:00:00:02:00")
	if err != nil || len(list) != 0 || list == nil {
		t.Errorf("allow: %#v %v", list, err)
	}
	if _, err := c.APAllow(ctx, admin, "02:00:00:00:02:00"); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("allowing a station not denied: %v, want 404", err)
	}
	if _, ok := ta.audit.find(actAPAllow, "ok"); !ok {
		t.Errorf("allow not audited: %+v", ta.audit.all())
	}
}

// rawBody sends a request as-is and returns the body of a 2xx answer.
func rawBody(t *testing.T, socket, method, path string, a *Actor, body string) string {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequest(method, "http://agent"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if a != nil {
		req.Header.Set(HeaderUser, a.User)
		req.Header.Set(HeaderRole, string(a.Role))
		req.Header.Set(HeaderSource, a.Source)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return string(b)
}

// An AP change pending when the agent stopped is rolled back at the next
// start, and the audit log says so.
func TestAPRecoverAudited(t *testing.T) {
	dev := apmgrtest.New(t, apmgrtest.Options{})
	ch, err := dev.Manager.Update(context.Background(), apmgr.Settings{
		SSID: "Crashed", Security: "wpa2-wpa3", Band: "2.4ghz", Channel: 6, Country: "US",
	})
	if err != nil {
		t.Fatal(err)
	}
	dev.Changes.Close() // the agent stops; the change stays journaled
	if s := dev.Hostapd.SSID(); s != "Crashed" {
		t.Fatalf("hostapd broadcasts %q", s)
	}
	start := func(audit *auditLog) (*change.Engine, *apmgr.Manager) {
		eng, err := change.New(change.Config{Dir: filepath.Join(dev.StateDir, "changes"), Timeout: time.Minute,
			OnFinish: AuditChanges(audit, discard())})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(eng.Close)
		m, err := apmgr.New(apmgr.Config{Cfg: dev.Config, Root: dev.Root, Changes: eng, Log: discard()})
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.Recover(context.Background()); err != nil {
			t.Fatal(err)
		}
		return eng, m
	}
	audit := &auditLog{}
	eng, m := start(audit)
	if got, err := m.Change(ch.ID); err != nil || got.Status != apmgr.StatusRolledBack {
		t.Errorf("change after the restart: %+v %v", got, err)
	}
	if s := dev.Hostapd.SSID(); s != "DeviceManager" {
		t.Errorf("after the restart hostapd broadcasts %q", s)
	}
	e, ok := audit.find(actAPRollback, "ok")
	if !ok || e.User != "agent" || !strings.Contains(e.Detail, ch.ID) || !strings.Contains(e.Detail, "pending when the agent stopped") {
		t.Errorf("audit %+v %v", audit.all(), ok)
	}
	// A second start has nothing to roll back.
	eng.Close()
	audit2 := &auditLog{}
	start(audit2)
	if n := len(audit2.all()); n != 0 {
		t.Errorf("second start audited %d entries", n)
	}
}

// The device has one pending change at a time, across the network and AP
// modules: each refuses to begin while the other waits for confirmation.
func TestOnePendingChangeAcrossModules(t *testing.T) {
	ta, dev := startAPAgent(t, apmgrtest.Options{})
	ta.net.allowSet = true
	ctx := context.Background()
	c := ta.client

	nch, err := c.SetConfig(ctx, admin, "eth1", api.LinkConfig{Mode: "dhcp"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.APUpdate(ctx, admin, APUpdate{SSID: ptr("Workshop")}); !IsStatus(err, http.StatusConflict) || !strings.Contains(err.Error(), "network change "+nch.ID) {
		t.Errorf("AP update with a network change pending: %v, want 409 naming it", err)
	}
	if got := dev.Hostapd.SSID(); got == "Workshop" {
		t.Errorf("the refused AP change reached hostapd")
	}
	if _, err := c.Confirm(ctx, admin, nch.ID); err != nil {
		t.Fatal(err)
	}

	ach, err := c.APUpdate(ctx, admin, APUpdate{SSID: ptr("Workshop")})
	if err != nil {
		t.Fatalf("AP update after the network change was confirmed: %v", err)
	}
	for _, try := range []func() error{
		func() error { _, err := c.SetConfig(ctx, admin, "eth1", api.LinkConfig{Mode: "dhcp"}); return err },
		func() error { _, err := c.SetUp(ctx, admin, "eth1", false); return err },
	} {
		if err := try(); !IsStatus(err, http.StatusConflict) || !strings.Contains(err.Error(), "access-point change "+ach.ID) {
			t.Errorf("network change with an AP change pending: %v, want 409 naming it", err)
		}
	}
	// Each module's routes find only its own changes.
	if _, err := c.Change(ctx, viewer, ach.ID); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("GET /v1/changes/{AP change}: %v, want 404", err)
	}
	if _, err := c.APChange(ctx, viewer, nch.ID); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("GET /v1/ap/changes/{network change}: %v, want 404", err)
	}
	if _, err := c.Confirm(ctx, admin, ach.ID); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("confirming an AP change as a network change: %v, want 404", err)
	}
	if n := len(ta.net.setCalls); n != 1 {
		t.Errorf("network changes made: %v, want only the first", ta.net.setCalls)
	}
}
