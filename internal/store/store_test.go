package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTest opens a database in dir (a fresh temp dir if empty) and closes
// it when the test ends.
func openTest(t *testing.T, dir string) *DB {
	t.Helper()
	return openClock(t, dir, time.Now)
}

// fakeClock is a clock a test sets while the cleanup goroutine reads it.
type fakeClock = testutil.Clock

func newClock(t time.Time) *fakeClock { return testutil.NewClock(t) }

func openClock(t *testing.T, dir string, now func() time.Time, opts ...Option) *DB {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := open(context.Background(), dir, testLogger(), now, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func migrationRows(t *testing.T, db *DB) []int {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		rows.Scan(&v)
		vs = append(vs, v)
	}
	return vs
}

func TestOpenMigrates(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "dir")
	db := openTest(t, dir)

	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o700 {
		t.Errorf("data dir mode = %o, want 700", got)
	}
	migs, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, m := range migs {
		want = append(want, m.version)
	}
	if diff := cmp.Diff(want, migrationRows(t, db)); diff != "" {
		t.Errorf("recorded migrations (-want +got):\n%s", diff)
	}
	var mode string
	db.SQL().QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	var fk int
	db.SQL().QueryRow(`PRAGMA foreign_keys`).Scan(&fk)
	if mode != "wal" || fk != 1 {
		t.Errorf("journal_mode=%s foreign_keys=%d, want wal and 1", mode, fk)
	}
	if _, err := db.CreateUser(context.Background(), "alice", auth.Admin, "h", false); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Reopening applies nothing again and keeps the data.
	db2 := openTest(t, dir)
	if diff := cmp.Diff(want, migrationRows(t, db2)); diff != "" {
		t.Errorf("recorded migrations after reopen (-want +got):\n%s", diff)
	}
	if n, err := db2.CountUsers(context.Background()); err != nil || n != 1 {
		t.Errorf("CountUsers after reopen = %d, %v; want 1", n, err)
	}
}

func TestOpenRefusesNewerDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	if _, err := db.SQL().Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	path := filepath.Join(dir, FileName)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	_, err = Open(context.Background(), dir, testLogger())
	if !errors.Is(err, ErrTooNew) {
		t.Fatalf("Open of a newer database: err = %v, want ErrTooNew", err)
	}
	migs, _ := loadMigrations()
	if !strings.Contains(err.Error(), "999") || !strings.Contains(err.Error(), fmt.Sprintf("up to %d", migs[len(migs)-1].version)) {
		t.Errorf("error %q does not name both versions", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("refused database file was modified")
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fc := newClock(clock)
	db := openClock(t, "", fc.Now)

	alice, err := db.CreateUser(ctx, "alice", auth.Admin, "hash-a", true)
	if err != nil {
		t.Fatal(err)
	}
	want := User{ID: alice.ID, Name: "alice", Role: auth.Admin, PasswordHash: "hash-a", MustChangePassword: true, SessionEpoch: 1, CreatedAt: clock, UpdatedAt: clock}
	if diff := cmp.Diff(want, alice); diff != "" {
		t.Errorf("CreateUser (-want +got):\n%s", diff)
	}
	if _, err := db.CreateUser(ctx, "alice", auth.Viewer, "x", false); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate CreateUser: err = %v, want ErrExists", err)
	}
	if _, err := db.CreateUser(ctx, "eve", auth.Role("root"), "x", false); err == nil {
		t.Error("CreateUser with an invalid role succeeded")
	}
	bob, _ := db.CreateUser(ctx, "bob", auth.Viewer, "hash-b", false)

	got, err := db.UserByName(ctx, "alice")
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("UserByName: %v (-want +got):\n%s", err, diff)
	}
	if got, err := db.UserByID(ctx, bob.ID); err != nil || got.Name != "bob" {
		t.Errorf("UserByID = %+v, %v", got, err)
	}
	if _, err := db.UserByName(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserByName(nobody): err = %v, want ErrNotFound", err)
	}
	if _, err := db.UserByID(ctx, 9999); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserByID(9999): err = %v, want ErrNotFound", err)
	}
	db.CreateUser(ctx, "aaron", auth.Operator, "hash-c", false)
	users, err := db.ListUsers(ctx)
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	if diff := cmp.Diff([]string{"aaron", "alice", "bob"}, names); err != nil || diff != "" {
		t.Errorf("ListUsers: %v (-want +got):\n%s", err, diff)
	}
	if n, err := db.CountUsers(ctx); n != 3 || err != nil {
		t.Errorf("CountUsers = %d, %v; want 3", n, err)
	}

	clock = clock.Add(time.Hour)
	fc.Set(clock)
	got, err = db.SetPassword(ctx, alice.ID, "hash-a2", false)
	want.PasswordHash, want.MustChangePassword, want.SessionEpoch, want.UpdatedAt = "hash-a2", false, 2, clock
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("SetPassword: %v (-want +got):\n%s", err, diff)
	}
	if _, err := db.SetPassword(ctx, 9999, "x", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPassword(9999): err = %v, want ErrNotFound", err)
	}

	got, err = db.SetRole(ctx, bob.ID, auth.Operator)
	if err != nil || got.Role != auth.Operator || got.SessionEpoch != 2 {
		t.Errorf("SetRole(bob, operator) = %+v, %v; want operator with epoch 2", got, err)
	}
	if err := db.DeleteUser(ctx, bob.ID); err != nil {
		t.Errorf("DeleteUser(bob): %v", err)
	}
	if _, err := db.UserByID(ctx, bob.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob still there after delete: %v", err)
	}
	if err := db.DeleteUser(ctx, bob.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteUser of a deleted user: err = %v, want ErrNotFound", err)
	}
}

func TestLastAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t, "")
	alice, _ := db.CreateUser(ctx, "alice", auth.Admin, "h", false)
	viewer, _ := db.CreateUser(ctx, "vic", auth.Viewer, "h", false)

	if _, err := db.SetRole(ctx, alice.ID, auth.Operator); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("demoting the last admin: err = %v, want ErrLastAdmin", err)
	}
	if err := db.DeleteUser(ctx, alice.ID); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("deleting the last admin: err = %v, want ErrLastAdmin", err)
	}
	if u, _ := db.UserByID(ctx, alice.ID); u.Role != auth.Admin || u.SessionEpoch != 1 {
		t.Errorf("refused change modified the user: %+v", u)
	}
	// Keeping the role of the last admin is fine.
	if _, err := db.SetRole(ctx, alice.ID, auth.Admin); err != nil {
		t.Errorf("SetRole(alice, admin): %v", err)
	}
	// With a second admin, either may go.
	if _, err := db.SetRole(ctx, viewer.ID, auth.Admin); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetRole(ctx, alice.ID, auth.Viewer); err != nil {
		t.Errorf("demoting one of two admins: %v", err)
	}
	if err := db.DeleteUser(ctx, viewer.ID); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("deleting the remaining admin: err = %v, want ErrLastAdmin", err)
	}
	if err := db.DeleteUser(ctx, alice.ID); err != nil {
		t.Errorf("deleting a non-admin: %v", err)
	}
}

func TestSessionStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fc := newClock(clock)
	db := openClock(t, "", fc.Now)
	s := db.SessionStore()

	if b, found, err := s.Find("nope"); found || err != nil || b != nil {
		t.Errorf("Find(nope) = %q, %v, %v", b, found, err)
	}
	if err := s.Commit("tok1", []byte("one"), clock.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitCtx(ctx, "tok2", []byte("two"), clock.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if b, found, err := s.FindCtx(ctx, "tok1"); !found || err != nil || string(b) != "one" {
		t.Errorf("Find(tok1) = %q, %v, %v", b, found, err)
	}
	// Commit overwrites data and expiry.
	if err := s.Commit("tok1", []byte("uno"), clock.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Rows are keyed by the tokens' SHA-256, never the tokens.
	got := map[string]string{}
	rows, err := db.SQL().Query(`SELECT hash, data FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h, d []byte
		if err := rows.Scan(&h, &d); err != nil {
			t.Fatal(err)
		}
		got[hex.EncodeToString(h)] = string(d)
	}
	rows.Close()
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	if diff := cmp.Diff(map[string]string{sum("tok1"): "uno", sum("tok2"): "two"}, got); diff != "" {
		t.Errorf("sessions rows by hash (-want +got):\n%s", diff)
	}

	clock = clock.Add(2 * time.Minute) // tok1 expires now
	fc.Set(clock)
	if _, found, _ := s.Find("tok1"); found {
		t.Error("expired session found")
	}
	db.cleanup(ctx)
	var n int
	db.SQL().QueryRow(`SELECT count(*) FROM sessions`).Scan(&n)
	if n != 1 {
		t.Errorf("after cleanup %d sessions remain, want 1", n)
	}
	if err := s.Delete("tok2"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.Find("tok2"); found {
		t.Error("deleted session found")
	}
	if err := s.DeleteCtx(ctx, "tok2"); err != nil {
		t.Errorf("deleting a missing session: %v", err)
	}
}

// TestMigrationEndsSessions: sessions stored before tokens were hashed
// (their rows hold usable tokens) are all deleted by the migration.
func TestMigrationEndsSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	migs, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var before []migration
	for _, m := range migs {
		if m.name < "0004" {
			before = append(before, m)
		}
	}
	sdb, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	old := &DB{sql: sdb, log: testLogger(), now: time.Now}
	if err := old.migrate(ctx, before); err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.Exec(`INSERT INTO sessions (token, data, expiry) VALUES ('raw-token', x'00', ?)`, time.Now().Add(time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	sdb.Close()

	db := openTest(t, dir)
	var n int
	if err := db.SQL().QueryRow(`SELECT count(*) FROM sessions`).Scan(&n); err != nil || n != 0 {
		t.Errorf("sessions after migration: %d, %v; want 0", n, err)
	}
	if _, found, err := db.SessionStore().Find("raw-token"); found || err != nil {
		t.Errorf("Find(raw-token) after migration = %v, %v; want not found", found, err)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fc := newClock(clock)
	db := openClock(t, "", fc.Now)

	plain, hash := auth.NewToken()
	tok, err := db.CreateToken(ctx, "ci", auth.Operator, hash, 0)
	want := Token{ID: tok.ID, Name: "ci", Role: auth.Operator, CreatedAt: clock}
	if diff := cmp.Diff(want, tok); err != nil || diff != "" {
		t.Errorf("CreateToken: %v (-want +got):\n%s", err, diff)
	}
	if _, err := db.CreateToken(ctx, "ci", auth.Viewer, auth.HashToken("other"), 0); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate name: err = %v, want ErrExists", err)
	}
	got, err := db.TokenByHash(ctx, auth.HashToken(plain))
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("TokenByHash: %v (-want +got):\n%s", err, diff)
	}
	if _, err := db.TokenByHash(ctx, auth.HashToken("dmt_wrong")); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown token: err = %v, want ErrNotFound", err)
	}

	used := clock.Add(time.Minute)
	if err := db.TouchToken(ctx, tok.ID, used); err != nil {
		t.Fatal(err)
	}
	got, _ = db.TokenByHash(ctx, hash)
	want.LastUsedAt = &used
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after TouchToken (-want +got):\n%s", diff)
	}

	if err := db.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TokenByHash(ctx, hash); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked token: err = %v, want ErrNotFound", err)
	}
	if err := db.RevokeToken(ctx, "ci"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking twice: err = %v, want ErrNotFound", err)
	}
	// A revoked token's name may be reused.
	tok2, err := db.CreateToken(ctx, "ci", auth.Viewer, auth.HashToken("again"), 0)
	if err != nil {
		t.Fatalf("reusing a revoked token's name: %v", err)
	}
	list, err := db.ListTokens(ctx)
	want.Revoked = true
	wantList := []Token{{ID: tok2.ID, Name: "ci", Role: auth.Viewer, CreatedAt: clock}, want}
	if diff := cmp.Diff(wantList, list); err != nil || diff != "" {
		t.Errorf("ListTokens: %v (-want +got):\n%s", err, diff)
	}
}

func TestAudit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	db := openClock(t, "", newClock(t0.Add(time.Hour)).Now)
	entries := []AuditEntry{
		{Time: t0, User: "alice", Source: "10.0.0.1", Action: "login", Result: "ok"},
		{Time: t0.Add(time.Minute), User: "bob", Source: "10.0.0.2", Action: "login", Result: "failed", Detail: "bad password"},
		{Time: t0.Add(2 * time.Minute), User: "alice", Source: "10.0.0.1", Action: "user.add", Target: "carol", Result: "ok"},
		{Time: t0.Add(3 * time.Minute), User: "cli", Source: "local", Action: "user.del", Target: "bob", Result: "denied"},
		{User: "cli", Source: "local", Action: "token.create", Target: "ci", Result: "ok"}, // time: now
	}
	for _, e := range entries {
		if err := db.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// IDs are 1..5 in insertion order.
	for i := range entries {
		entries[i].ID = int64(i + 1)
	}
	entries[4].Time = t0.Add(time.Hour)
	pick := func(idx ...int) []AuditEntry {
		out := []AuditEntry{}
		for _, i := range idx {
			out = append(out, entries[i])
		}
		return out
	}
	tests := []struct {
		name string
		f    AuditFilter
		want []AuditEntry
	}{
		{"all newest first", AuditFilter{}, pick(4, 3, 2, 1, 0)},
		{"user", AuditFilter{User: "alice"}, pick(2, 0)},
		{"action prefix", AuditFilter{Action: "user."}, pick(3, 2)},
		{"action exact", AuditFilter{Action: "login"}, pick(1, 0)},
		{"action no match", AuditFilter{Action: "user_"}, pick()},
		{"result", AuditFilter{Result: "ok"}, pick(4, 2, 0)},
		{"since inclusive", AuditFilter{Since: t0.Add(time.Minute)}, pick(4, 3, 2, 1)},
		{"until exclusive", AuditFilter{Until: t0.Add(2 * time.Minute)}, pick(1, 0)},
		{"limit offset", AuditFilter{Limit: 2, Offset: 1}, pick(3, 2)},
		{"combined", AuditFilter{User: "alice", Result: "ok", Since: t0.Add(time.Second)}, pick(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.ListAudit(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ListAudit(%+v) (-want +got):\n%s", tt.f, diff)
			}
		})
	}
}

func TestAuditLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t, "")
	tx, _ := db.SQL().Begin()
	for i := range 1100 {
		tx.Exec(`INSERT INTO audit (time, user, source, action, target, result, detail) VALUES (?, 'u', 's', 'a', '', 'ok', '')`, i)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ limit, want int }{{0, DefaultAuditLimit}, {5, 5}, {5000, MaxAuditLimit}} {
		got, err := db.ListAudit(ctx, AuditFilter{Limit: tt.limit})
		if err != nil || len(got) != tt.want {
			t.Errorf("ListAudit(Limit %d) gave %d entries, %v; want %d", tt.limit, len(got), err, tt.want)
		}
	}
}

func TestLoginFailuresPersist(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	// The clock is t0's: by the real one the cleanup that starts with Open
	// would prune these failures as they are added.
	db := openClock(t, dir, newClock(t0).Now)
	add := func(user, src string, at time.Time) {
		t.Helper()
		if err := db.AddLoginFailure(ctx, user, src, at); err != nil {
			t.Fatal(err)
		}
	}
	add("alice", "10.0.0.1", t0.Add(2*time.Minute))
	add("alice", "10.0.0.2", t0)
	add("bob", "10.0.0.1", t0.Add(time.Minute))
	add("alice", "10.0.0.1", t0.Add(-time.Hour)) // before since
	db.Close()

	db = openClock(t, dir, newClock(t0).Now)
	byUserSource, bySource, err := db.LoginFailures(ctx, "alice", "10.0.0.1", t0.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Time{t0.Add(2 * time.Minute)}, byUserSource); diff != "" {
		t.Errorf("byUserSource (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Time{t0.Add(time.Minute), t0.Add(2 * time.Minute)}, bySource); diff != "" {
		t.Errorf("bySource (-want +got):\n%s", diff)
	}
	count := func(user string) int {
		t.Helper()
		n, err := db.CountLoginFailures(ctx, user, t0.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n, all := count("alice"), count(""); n != 2 || all != 3 {
		t.Errorf("counts: alice %d, everyone %d; want 2 and 3", n, all)
	}
	if err := db.ClearLoginFailuresFrom(ctx, "alice", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if n := count("alice"); n != 1 {
		t.Errorf("after clearing alice's from 10.0.0.1: %d left, want 1", n)
	}
	if err := db.ClearLoginFailures(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	byUserSource, bySource, _ = db.LoginFailures(ctx, "alice", "10.0.0.1", t0.Add(-time.Minute))
	if len(byUserSource) != 0 || len(bySource) != 1 || count("alice") != 0 {
		t.Errorf("after clear: byUserSource %v, bySource %v; want none and bob's one", byUserSource, bySource)
	}
	// Pruning drops rows older than a day.
	add("old", "x", t0.Add(-25*time.Hour))
	db.cleanup(ctx)
	var n int
	db.SQL().QueryRow(`SELECT count(*) FROM login_failures WHERE username = 'old'`).Scan(&n)
	if n != 0 {
		t.Errorf("old failure not pruned")
	}
}

func TestCloseStopsCleanup(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := Open(ctx, t.TempDir(), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-db.done:
	case <-time.After(5 * time.Second):
		t.Error("cleanup goroutine still running after its context ended")
	}
	if err := db.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Two admins demoting each other at once: the write transactions
// serialize, so exactly one demotion wins and an admin remains.
func TestLastAdminConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t, "")
	a, _ := db.CreateUser(ctx, "a", auth.Admin, "h", false)
	b, _ := db.CreateUser(ctx, "b", auth.Admin, "h", false)
	errs := make(chan error, 2)
	for _, id := range []int64{a.ID, b.ID} {
		go func() {
			_, err := db.SetRole(ctx, id, auth.Viewer)
			errs <- err
		}()
	}
	var ok, refused int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, ErrLastAdmin):
			refused++
		default:
			t.Errorf("SetRole: %v", err)
		}
	}
	if ok != 1 || refused != 1 {
		t.Errorf("%d demotions succeeded and %d were refused; want 1 and 1", ok, refused)
	}
}

// A session names its user by ID: a deleted user's ID is never given to
// a new user.
func TestUserIDsNotReused(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	ctx := context.Background()
	if _, err := db.CreateUser(ctx, "admin", auth.Admin, "h", false); err != nil {
		t.Fatal(err)
	}
	old, err := db.CreateUser(ctx, "mallory", auth.Viewer, "h", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteUser(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	nu, err := db.CreateUser(ctx, "bob", auth.Admin, "h", false)
	if err != nil {
		t.Fatal(err)
	}
	if nu.ID == old.ID {
		t.Errorf("new user got the deleted user's ID %d", nu.ID)
	}
}

// TestTokenExpiry: a token with an expiry is found until then, and
// afterwards no more, by the store's clock; list still shows it.
func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fc := newClock(clock)
	db := openClock(t, "", fc.Now)

	tok, err := db.CreateToken(ctx, "ci", auth.Viewer, auth.HashToken("a"), time.Hour)
	expires := clock.Add(time.Hour)
	want := Token{ID: tok.ID, Name: "ci", Role: auth.Viewer, CreatedAt: clock, ExpiresAt: &expires}
	if diff := cmp.Diff(want, tok); err != nil || diff != "" {
		t.Fatalf("CreateToken: %v (-want +got):\n%s", err, diff)
	}
	never, err := db.CreateToken(ctx, "forever", auth.Viewer, auth.HashToken("b"), 0)
	if err != nil || never.ExpiresAt != nil {
		t.Fatalf("CreateToken without expiry = %+v, %v", never, err)
	}
	if _, err := db.CreateToken(ctx, "past", auth.Viewer, auth.HashToken("c"), -time.Second); err == nil {
		t.Error("CreateToken with a negative lifetime succeeded")
	}

	fc.Set(expires.Add(-time.Nanosecond))
	if got, err := db.TokenByHash(ctx, auth.HashToken("a")); err != nil || got.ID != tok.ID {
		t.Errorf("TokenByHash just before expiry = %+v, %v", got, err)
	}
	fc.Set(expires)
	if _, err := db.TokenByHash(ctx, auth.HashToken("a")); !errors.Is(err, ErrNotFound) {
		t.Errorf("TokenByHash at expiry: err = %v, want ErrNotFound", err)
	}
	if _, err := db.TokenByHash(ctx, auth.HashToken("b")); err != nil {
		t.Errorf("TokenByHash of a token without expiry: %v", err)
	}
	list, err := db.ListTokens(ctx)
	if diff := cmp.Diff([]Token{want, never}, list); err != nil || diff != "" {
		t.Errorf("ListTokens: %v (-want +got):\n%s", err, diff)
	}
}

func TestLoginSuccesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	db := openClock(t, "", newClock(t0).Now)
	if last, err := db.LastLoginSuccess(ctx, "10.0.0.1"); err != nil || !last.IsZero() {
		t.Fatalf("unknown source: %v, %v", last, err)
	}
	for _, at := range []time.Time{t0, t0.Add(-time.Hour)} { // an older one does not move it back
		if err := db.AddLoginSuccess(ctx, "10.0.0.1", at); err != nil {
			t.Fatal(err)
		}
	}
	if last, err := db.LastLoginSuccess(ctx, "10.0.0.1"); err != nil || !last.Equal(t0) {
		t.Errorf("last = %v, %v; want %v", last, err, t0)
	}
	db.AddLoginSuccess(ctx, "old", t0.Add(-31*24*time.Hour))
	db.cleanup(ctx)
	if last, _ := db.LastLoginSuccess(ctx, "old"); !last.IsZero() {
		t.Error("a month-old success not pruned")
	}
}

// Every field is clipped, on a character boundary; a long entry costs
// at most a few KiB.
func TestAuditClipped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t, "")
	huge := strings.Repeat("é", 40_000) // 2 bytes each
	if err := db.Audit(ctx, AuditEntry{User: huge, Source: huge, Action: "login", Target: huge, Result: "fail", Detail: huge + "\xff"}); err != nil {
		t.Fatal(err)
	}
	got, err := db.ListAudit(ctx, AuditFilter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListAudit: %v, %v", got, err)
	}
	e := got[0]
	for name, tt := range map[string]struct {
		v   string
		max int
	}{"user": {e.User, MaxAuditField}, "source": {e.Source, MaxAuditField}, "target": {e.Target, MaxAuditField}, "detail": {e.Detail, MaxAuditDetail}} {
		if len(tt.v) > tt.max || len(tt.v) < tt.max-4 || !utf8.ValidString(tt.v) || !strings.HasSuffix(tt.v, "…") {
			t.Errorf("%s: %d bytes, valid UTF-8 %v, ends %q; want at most %d, clipped with …", name, len(tt.v), utf8.ValidString(tt.v), tt.v[len(tt.v)-4:], tt.max)
		}
	}
}

// Repeated entries from one source within the window share a row.
func TestAuditRepeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock(time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC))
	db := openClock(t, "", clk.Now)
	throttled := func(user, src string) {
		t.Helper()
		now := clk.Now()
		e := AuditEntry{User: user, Source: src, Action: "login", Target: user, Result: "throttled", Detail: "throttled"}
		if err := db.AuditRepeat(ctx, e, now.Add(-15*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		throttled(fmt.Sprint("u", i), "10.0.0.1")
	}
	throttled("x", "10.0.0.2")
	db.Audit(ctx, AuditEntry{User: "vera", Source: "10.0.0.1", Action: "login", Result: "ok"})
	clk.Set(clk.Now().Add(16 * time.Minute))
	throttled("u", "10.0.0.1") // a new window, a new row
	got, err := db.ListAudit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, e := range got {
		rows = append(rows, e.User+" "+e.Source+" "+e.Result+" "+e.Detail)
	}
	want := []string{
		"u 10.0.0.1 throttled throttled",
		"vera 10.0.0.1 ok ",
		"x 10.0.0.2 throttled throttled",
		"u0 10.0.0.1 throttled throttled (100 attempts)",
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("audit rows (-want +got):\n%s", diff)
	}
}

// The cleanup keeps audit.keep's age and audit.max_rows's count.
func TestAuditRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	db := openClock(t, dir, newClock(t0).Now)
	for i := range 10 {
		db.Audit(ctx, AuditEntry{Time: t0.Add(-time.Duration(i) * 24 * time.Hour), User: fmt.Sprint("d", i), Action: "x", Result: "ok"})
	}
	db.Audit(ctx, AuditEntry{Time: t0.Add(-100 * 24 * time.Hour), User: "ancient", Action: "x", Result: "ok"})
	names := func() string {
		t.Helper()
		got, err := db.ListAudit(ctx, AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, e := range got {
			n = append(n, e.User)
		}
		return strings.Join(n, " ")
	}
	db.cleanup(ctx) // the defaults: 90 days, 100,000 rows
	if got, want := names(), "d0 d1 d2 d3 d4 d5 d6 d7 d8 d9"; got != want {
		t.Errorf("after default cleanup: %s, want %s", got, want)
	}
	db.Close()
	db = openClock(t, dir, newClock(t0).Now, AuditRetention(7*24*time.Hour, 5))
	db.cleanup(ctx)
	if got, want := names(), "d0 d1 d2 d3 d4"; got != want {
		t.Errorf("after keep 7d, max 5 rows: %s, want %s", got, want)
	}
}
