package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/devmgr/devmgr/internal/auth"
)

// snapshotOpened takes a snapshot of db and opens it as Open would a
// restored database: in a directory of its own, migrated.
func snapshotOpened(t *testing.T, db *DB) (*DB, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := db.Snapshot(context.Background(), path); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode %#o, want 0600", st.Mode().Perm())
	}
	return openTest(t, dir), path
}

func TestSnapshotRefusesExisting(t *testing.T) {
	t.Parallel()
	db := openTest(t, "")
	path := filepath.Join(t.TempDir(), "x.db")
	if err := os.WriteFile(path, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := db.Snapshot(context.Background(), path); !errors.Is(err, os.ErrExist) {
		t.Fatalf("Snapshot over a file = %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep" {
		t.Errorf("the file was changed: %q", b)
	}
}

// A snapshot taken while ten writers commit transactions that each add a
// user and a token of the same name holds whole transactions only, and
// passes SQLite's integrity check.
func TestSnapshotWhileWriting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t, "")
	if _, err := db.CreateUser(ctx, "admin", auth.Admin, "h", false); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written atomic.Int64
	for w := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%d", w, i)
				err := db.tx(ctx, func(tx *sql.Tx) error {
					if _, err := tx.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES (?, 'viewer', 'h', 0, 0)`, name); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?, 'viewer', ?, 0)`, name, []byte(name))
					return err
				})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				written.Add(1)
			}
		}()
	}
	for written.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	snap, _ := snapshotOpened(t, db)
	close(stop)
	wg.Wait()

	if err := snap.Check(ctx); err != nil {
		t.Fatal(err)
	}
	users, err := snap.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := snap.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tk := range toks {
		names[tk.Name] = true
	}
	if len(users)-1 != len(toks) || len(toks) < 50 {
		t.Fatalf("snapshot has %d users besides admin and %d tokens, want the same, at least 50", len(users)-1, len(toks))
	}
	for _, u := range users {
		if u.Name != "admin" && !names[u.Name] {
			t.Errorf("user %s without its token", u.Name)
		}
	}
}

func TestRestoreAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	db := openClock(t, "", clock.Now)
	alice, _ := db.CreateUser(ctx, "alice", auth.Admin, "hash-a", false)
	db.CreateUser(ctx, "carol", auth.Viewer, "hash-c", false)
	if _, err := db.CreateToken(ctx, "ci", auth.Operator, []byte("h1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	db.Audit(ctx, AuditEntry{User: "alice", Action: "before"})
	_, path := snapshotOpened(t, db)
	wantUsers, _ := db.ListUsers(ctx)
	wantTokens, _ := db.ListTokens(ctx)

	// After the backup: carol goes, bob comes and signs in, alice's
	// password changes, a token is revoked and another made.
	carol, _ := db.UserByName(ctx, "carol")
	if err := db.DeleteUser(ctx, carol.ID); err != nil {
		t.Fatal(err)
	}
	bob, _ := db.CreateUser(ctx, "bob", auth.Admin, "hash-b", false)
	db.SetPassword(ctx, alice.ID, "hash-a2", false)
	db.RevokeToken(ctx, "ci")
	db.CreateToken(ctx, "new", auth.Viewer, []byte("h2"), 0)
	sessions := db.SessionStore()
	for _, tok := range []string{"bob-session", "alice-session"} {
		if err := sessions.CommitCtx(ctx, tok, []byte("data"), clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	db.Audit(ctx, AuditEntry{User: "alice", Action: "after"})

	res, err := db.RestoreAccounts(ctx, path)
	if err != nil {
		t.Fatalf("RestoreAccounts: %v", err)
	}
	if diff := cmp.Diff(Restored{Users: 2, Tokens: 1}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	gotUsers, _ := db.ListUsers(ctx)
	gotTokens, _ := db.ListTokens(ctx)
	// The session epochs move past every one handed out before (a
	// session written back by a request in flight stays ended).
	for _, u := range gotUsers {
		if u.SessionEpoch <= 2 {
			t.Errorf("%s's session epoch %d after the restore, want above 2 (alice's before it)", u.Name, u.SessionEpoch)
		}
	}
	if diff := cmp.Diff(wantUsers, gotUsers, cmpopts.IgnoreFields(User{}, "SessionEpoch")); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantTokens, gotTokens); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
	for _, tok := range []string{"bob-session", "alice-session"} {
		if _, ok, err := sessions.FindCtx(ctx, tok); ok || err != nil {
			t.Errorf("session %s survived the restore (err %v)", tok, err)
		}
	}
	// The log keeps what happened since.
	entries, _ := db.ListAudit(ctx, AuditFilter{})
	if len(entries) != 2 {
		t.Errorf("audit has %d entries, want both", len(entries))
	}
	// bob's ID is never handed out again.
	dave, err := db.CreateUser(ctx, "dave", auth.Viewer, "h", false)
	if err != nil {
		t.Fatal(err)
	}
	if dave.ID <= bob.ID {
		t.Errorf("new user got ID %d, bob had %d", dave.ID, bob.ID)
	}
}

func TestRestoreAccountsRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t, "")
	db.CreateUser(ctx, "alice", auth.Admin, "hash-a", false)

	noAdmin := openTest(t, "")
	noAdmin.CreateUser(ctx, "vic", auth.Viewer, "h", false)
	_, path := snapshotOpened(t, noAdmin)
	if _, err := db.RestoreAccounts(ctx, path); !errors.Is(err, ErrNoAdmin) {
		t.Errorf("accounts without an admin: %v, want ErrNoAdmin", err)
	}

	old := openTest(t, "")
	old.CreateUser(ctx, "root2", auth.Admin, "h", false)
	_, path = snapshotOpened(t, old)
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1) // the busy timeout is per connection
	if _, err := raw.Exec(`PRAGMA busy_timeout = 10000`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := db.RestoreAccounts(ctx, path); err == nil {
		t.Error("a database of another schema version was restored")
	}
	if u, _ := db.ListUsers(ctx); len(u) != 1 || u[0].Name != "alice" {
		t.Errorf("users changed by a refused restore: %v", u)
	}
}

// The restored columns are every column of the tables: a migration that
// adds one must add it there too.
func TestRestoredColumnsComplete(t *testing.T) {
	t.Parallel()
	db := openTest(t, "")
	for table, want := range map[string][]string{"users": restoredUserColumns, "api_tokens": restoredTokenColumns} {
		rows, err := db.SQL().Query(`SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			got = append(got, n)
		}
		rows.Close()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s columns (-restored +table):\n%s", table, diff)
		}
	}
}

func TestCheckFindsDamage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t, "")
	for i := range 200 {
		db.Audit(ctx, AuditEntry{User: "u", Action: "a", Detail: fmt.Sprintf("%0500d", i)})
	}
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := db.Snapshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	// Scribble over an index page in the middle of the file.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = 0xa5
	}
	f.WriteAt(junk, st.Size()-8192)
	f.Close()
	snap, err := Open(ctx, dir, testLogger())
	if err == nil {
		defer snap.Close()
		err = snap.Check(ctx)
	}
	if err == nil {
		t.Fatal("a damaged database passed Open and Check")
	}
}
