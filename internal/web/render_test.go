package web

import (
	"bytes"
	"context"
	"github.com/devmgr/devmgr/internal/auditlog"
	"os"
	"path/filepath"
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

// TestHostSysCached: the console reads the OS once and the load, memory
// and uptime at most once a second.
func TestHostSysCached(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")
	write("proc/loadavg", "0.50 0.25 0.10 1/100 42\n")
	write("proc/uptime", "100.5 200.0\n")
	write("proc/meminfo", "MemTotal: 2048 kB\nMemAvailable: 1024 kB\n")
	now := time.Unix(1_800_000_000, 0)
	c := newHostSys(HostSysInfo{Root: root, DiskPath: root})
	c.now = func() time.Time { return now }
	read := func() System {
		t.Helper()
		sys, err := c.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return sys
	}
	first := read()
	if first.Load[0] != 0.5 || first.OS != "Debian GNU/Linux 12 (bookworm)" || first.UptimeSec != 100 || !first.Time.Equal(now) {
		t.Fatalf("first snapshot %+v", first)
	}
	write("etc/os-release", "PRETTY_NAME=\"Other\"\n")
	write("proc/loadavg", "1.50 0.25 0.10 1/100 42\n")
	now = now.Add(sysInterval - time.Millisecond)
	if s := read(); s.Load[0] != 0.5 || !s.Time.Equal(now) {
		t.Errorf("within %s: load %v at %s, want the kept 0.5 at the time asked", sysInterval, s.Load[0], s.Time)
	}
	now = now.Add(time.Millisecond)
	if s := read(); s.Load[0] != 1.5 || s.OS != first.OS {
		t.Errorf("after %s: load %v, OS %q; want the new load and the OS read once", sysInterval, s.Load[0], s.OS)
	}
}
