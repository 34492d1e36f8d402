package web

import (
	"bytes"
	"context"
	"github.com/devmgr/devmgr/internal/auditlog"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
)

// TestPagesRender executes every page with typical data, so a template
// mistake fails here rather than in front of a user.
func TestPagesRender(t *testing.T) {
	t.Parallel()
	v, err := parseViews()
	if err != nil {
		t.Fatal(err)
	}
	sys, _ := fakeSys{}.Snapshot(context.Background())
	admin := &identity{UserID: 1, Name: "admin", Role: auth.Admin}
	viewer := &identity{UserID: 2, Name: "vera", Role: auth.Viewer}
	f := &form{Values: map[string]string{"name": "x<y", "role": "operator"}, Errors: map[string]string{"name": "Bad name."}}
	now := time.Now()
	for _, tc := range []struct {
		page string
		me   *identity
		data any
		want []string
	}{
		{"login", nil, loginData{Form: f, FirstStart: true, PasswordFile: "/var/lib/devmgr/initial-admin-password"}, []string{`id="first-start-hint"`}},
		{"password", &identity{UserID: 1, Name: "admin", Role: auth.Admin, MustChange: true}, passwordData{Form: f}, []string{`id="must-change"`}},
		{"dashboard", viewer, dashboardData{System: sys, Leases: -1}, []string{`data-iface="wlan0"`, `hx-trigger="every 3s"`, `id="glance-leases">–</dd>`}},
		{"users", admin, usersData{Users: []userRow{{User: store.User{ID: 1, Name: "admin", Role: auth.Admin, CreatedAt: now}, Self: true}}, Roles: auth.Roles, Form: f, Error: "oops"},
			[]string{`value="x&lt;y"`, `<option value="operator" selected>`, "Bad name.", `id="users-error"`}},
		{"audit", admin, auditData{Errors: map[string]string{}, Actions: auditActions, Results: auditlog.Results, Page: 2, PrevURL: "/audit?page=1",
			Entries: []store.AuditEntry{{Time: now, User: "admin", Source: "127.0.0.1", Action: "login", Result: "ok"}}}, []string{`id="audit-prev"`, "127.0.0.1"}},
		{"error", viewer, errorPage{Status: 403, StatusText: "Forbidden", Message: "no"}, []string{"403 Forbidden"}},
	} {
		var buf bytes.Buffer
		err := v.pages[tc.page].ExecuteTemplate(&buf, "layout", view{Title: tc.page, Nav: tc.page, Me: tc.me, CSRF: "tok", Data: tc.data})
		if err != nil {
			t.Errorf("%s: %v", tc.page, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%s lacks %q", tc.page, w)
			}
		}
		if tc.me != nil && !tc.me.MustChange {
			hasAdmin := strings.Contains(buf.String(), `href="/users"`)
			if hasAdmin != tc.me.Role.AtLeast(auth.Admin) {
				t.Errorf("%s as %s: Users link shown = %v", tc.page, tc.me.Role, hasAdmin)
			}
		}
	}
}

func TestHumanize(t *testing.T) {
	t.Parallel()
	for in, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 30: "3.0 GiB"} {
		if got := humanBytes(in); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[time.Duration]string{59 * time.Second: "0m", 90 * time.Minute: "1h 30m", 50 * time.Hour: "2d 2h 0m"} {
		if got := humanDuration(in); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestHostSysInfo(t *testing.T) {
	t.Parallel()
	sys, err := HostSysInfo{DiskPath: t.TempDir()}.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sys.Hostname == "" || sys.Kernel == "" || sys.MemTotal == 0 || sys.DiskTotal == 0 || sys.Uptime <= 0 || len(sys.Interfaces) == 0 {
		t.Errorf("incomplete snapshot: %+v", sys)
	}
	if got := osPrettyName([]byte("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("osPrettyName = %q", got)
	}
	m := parseMeminfo([]byte("MemTotal:        2048 kB\nMemAvailable:    1024 kB\nHugePages_Total:       0\n"))
	if m["MemTotal"] != 2048*1024 || m["MemAvailable"] != 1024*1024 || m["HugePages_Total"] != 0 {
		t.Errorf("parseMeminfo = %v", m)
	}
}
