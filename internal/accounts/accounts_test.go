package accounts

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
)

const goodPassword = "a long enough password"

func newService(t *testing.T) (*Service, *store.DB) {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	db, err := store.Open(context.Background(), dir, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := New(Config{DB: db, Log: log, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

// auditLines are the audit entries, oldest first, as "user action target result detail".
func auditLines(t *testing.T, db *store.DB) []string {
	t.Helper()
	entries, err := db.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		got = append(got, strings.TrimSpace(strings.Join([]string{e.User, e.Action, e.Target, e.Result, e.Detail}, " ")))
	}
	return got
}

func TestCheckNewUser(t *testing.T) {
	t.Parallel()
	err := CheckNewUser(NewUser{Name: "Bad Name", Role: "root", Password: "short", Confirm: "other"})
	var inv *Invalid
	if !errors.As(err, &inv) {
		t.Fatalf("CheckNewUser = %v, want *Invalid", err)
	}
	var fields []string
	for _, p := range inv.Problems {
		fields = append(fields, p.Field)
	}
	if diff := cmp.Diff([]string{"name", "role", "password", "confirm"}, fields); diff != "" {
		t.Errorf("problem fields (-want +got):\n%s", diff)
	}
	if !errors.Is(err, ErrMismatch) {
		t.Error("the confirmation problem is not ErrMismatch")
	}
	if err := CheckNewUser(NewUser{Name: "alice", Role: "viewer", Password: goodPassword, Confirm: goodPassword}); err != nil {
		t.Errorf("a good user: %v", err)
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	s, db := newService(t)
	ctx := context.Background()
	admin := Actor{User: "root-admin", Source: "192.0.2.1"}
	add := func(name, role string) store.User {
		t.Helper()
		u, err := s.AddUser(ctx, admin, NewUser{Name: name, Role: role, Password: goodPassword, Confirm: goodPassword})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	alice := add("alice", "admin")
	bob := add("bob", "viewer")
	_, err := s.AddUser(ctx, admin, NewUser{Name: "alice", Role: "viewer", Password: goodPassword, Confirm: goodPassword})
	if !errors.Is(err, ErrExists) || err.Error() != `user "alice" already exists` {
		t.Errorf("duplicate AddUser = %v", err)
	}
	if _, err := s.User(ctx, "nobody"); !errors.Is(err, ErrNotFound) || err.Error() != `user "nobody" does not exist` {
		t.Errorf("User(nobody) = %v", err)
	}

	if _, changed, err := s.SetRole(ctx, admin, bob, "viewer"); changed || err != nil {
		t.Errorf("SetRole to the same role: changed %v, %v", changed, err)
	}
	if _, _, err := s.SetRole(ctx, admin, alice, "viewer"); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("demoting the last admin: %v", err)
	}
	if err := s.DeleteUser(ctx, Actor{User: "alice", UserID: alice.ID}, alice); !errors.Is(err, ErrSelf) {
		t.Errorf("deleting oneself: %v", err)
	}
	if err := s.DeleteUser(ctx, CLI, alice); !errors.Is(err, ErrLastAdmin) || err.Error() != `cannot delete user "alice": it is the last admin` {
		t.Errorf("deleting the last admin: %v", err)
	}
	if _, changed, err := s.SetRole(ctx, admin, bob, "admin"); !changed || err != nil {
		t.Errorf("SetRole bob admin: changed %v, %v", changed, err)
	}
	if err := s.SetPassword(ctx, CLI, "bob", "short"); err == nil {
		t.Error("SetPassword took a short password")
	}
	if err := s.SetPassword(ctx, CLI, "bob", goodPassword+"!"); err != nil {
		t.Fatal(err)
	}
	pw, err := s.ResetPassword(ctx, admin, alice)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := db.UserByName(ctx, "alice")
	if ok, _ := auth.VerifyPassword(got.PasswordHash, pw); !ok || !got.MustChangePassword {
		t.Errorf("after the reset: password verifies %v, must change %v", ok, got.MustChangePassword)
	}
	if err := s.DeleteUser(ctx, CLI, alice); err != nil {
		t.Fatal(err)
	}

	want := []string{
		"root-admin user.add alice ok role admin",
		"root-admin user.add bob ok role viewer",
		`root-admin user.add alice failed name: user "alice" already exists`,
		"root-admin user.role alice failed last admin",
		"alice user.delete alice failed own account",
		"cli user.delete alice failed last admin",
		"root-admin user.role bob ok viewer -> admin",
		"cli user.passwd bob ok",
		"root-admin user.reset alice ok",
		"cli user.delete alice ok",
	}
	if diff := cmp.Diff(want, auditLines(t, db)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestInitialAdmin(t *testing.T) {
	t.Parallel()
	s, db := newService(t)
	ctx := context.Background()
	if err := s.EnsureInitialAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(s.InitialPasswordPath())
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(s.InitialPasswordPath()); st.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, want 0600", st.Mode().Perm())
	}
	u, err := db.UserByName(ctx, InitialAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := auth.VerifyPassword(u.PasswordHash, strings.TrimSpace(string(b))); !ok || !u.MustChangePassword || u.Role != auth.Admin {
		t.Errorf("initial admin %+v does not match the file", u)
	}
	// A second start keeps it.
	if err := s.EnsureInitialAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(s.InitialPasswordPath()); string(b2) != string(b) {
		t.Error("a second start rewrote the password file")
	}
	if _, err := s.ChangePassword(ctx, Actor{User: InitialAdmin, UserID: u.ID}, u, goodPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.InitialPasswordPath()), InitialPasswordFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the password file is still there after the change: %v", err)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	s, db := newService(t)
	ctx := context.Background()
	plain, tok, err := s.CreateToken(ctx, CLI, NewToken{Name: "ci", Role: "operator", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db.TokenByHash(ctx, auth.HashToken(plain)); err != nil || got.ID != tok.ID {
		t.Errorf("created token not found by its hash: %v", err)
	}
	if _, _, err := s.CreateToken(ctx, CLI, NewToken{Name: "ci", Role: "viewer"}); !errors.Is(err, ErrExists) ||
		err.Error() != `token "ci" already exists (revoke it first)` {
		t.Errorf("duplicate token: %v", err)
	}
	if err := CheckNewToken(NewToken{Name: "Bad!", Role: "god"}); err == nil {
		t.Error("CheckNewToken took a bad name and role")
	}
	if err := s.RevokeToken(ctx, CLI, "ci"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, CLI, "ci"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second revoke: %v", err)
	}
}

func TestParseTokenTTL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"", 0, ""},
		{"90d", 90 * 24 * time.Hour, ""},
		{"720h", 720 * time.Hour, ""},
		{"x", 0, `"x" is not a duration`},
		{"30s", 0, `"30s" is less than the shortest lifetime, 1m`},
		{"3651d", 0, `"3651d" is more than the longest lifetime, 3650d (10 years)`},
	} {
		got, err := ParseTokenTTL(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseTokenTTL(%q) = %v, want error %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseTokenTTL(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
