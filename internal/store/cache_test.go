package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
)

// cacheFixture is a database with a user, a session and a live token, each
// read once so that the cache holds it, and another connection to the same
// file standing for another process (devmgr user, token, a restore's
// child). The clock stands still unless the test moves it, so the cache
// looks for the others' writes only when it does.
type cacheFixture struct {
	db, other *DB
	clock     *fakeClock
	user      User
	session   string
	tokenHash []byte
}

func newCacheFixture(t *testing.T) *cacheFixture {
	t.Helper()
	ctx := context.Background()
	f := &cacheFixture{clock: newClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), session: "session-token"}
	dir := t.TempDir()
	f.db = openClock(t, dir, f.clock.Now)
	f.other = openClock(t, dir, f.clock.Now)
	var err error
	if f.user, err = f.db.CreateUser(ctx, "vera", auth.Viewer, "hash-1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.CreateUser(ctx, "alice", auth.Admin, "hash-a", false); err != nil {
		t.Fatal(err)
	}
	if err := f.db.SessionStore().CommitCtx(ctx, f.session, []byte("data-1"), f.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, f.tokenHash = auth.NewToken()
	if _, err := f.db.CreateToken(ctx, "ci", auth.Operator, f.tokenHash, 0); err != nil {
		t.Fatal(err)
	}
	f.mustUser(t, 1)
	f.mustSession(t, "data-1")
	f.mustToken(t)
	return f
}

func (f *cacheFixture) mustUser(t *testing.T, epoch int64) {
	t.Helper()
	u, err := f.db.UserByID(context.Background(), f.user.ID)
	if err != nil || u.SessionEpoch != epoch {
		t.Fatalf("UserByID = epoch %d, %v; want epoch %d", u.SessionEpoch, err, epoch)
	}
}

func (f *cacheFixture) mustSession(t *testing.T, data string) {
	t.Helper()
	b, found, err := f.db.SessionStore().FindCtx(context.Background(), f.session)
	if err != nil || !found || string(b) != data {
		t.Fatalf("FindCtx = %q, %v, %v; want %q", b, found, err, data)
	}
}

func (f *cacheFixture) mustToken(t *testing.T) Token {
	t.Helper()
	tok, err := f.db.TokenByHash(context.Background(), f.tokenHash)
	if err != nil {
		t.Fatalf("TokenByHash: %v", err)
	}
	return tok
}

// TestCacheWritesThrough: each of the writes that end a session or a
// token's use (logout, password change, role change, user delete, token
// revoke, a restore of the accounts) shows at once in what the cache
// answers, without its look at others' writes, while another process's
// change of a cached row is not seen yet: the answers do come from memory.
func TestCacheWritesThrough(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	steps := []struct {
		name  string
		write func(t *testing.T, f *cacheFixture)
		check func(t *testing.T, f *cacheFixture)
	}{
		{"password change", func(t *testing.T, f *cacheFixture) {
			if _, err := f.db.SetPassword(ctx, f.user.ID, "hash-2", false); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, f *cacheFixture) { f.mustUser(t, 3) }}, // the other's change, then this one
		{"role change", func(t *testing.T, f *cacheFixture) {
			if _, err := f.db.SetRole(ctx, f.user.ID, auth.Operator); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, f *cacheFixture) {
			f.mustUser(t, 3)
			if u, _ := f.db.UserByID(ctx, f.user.ID); u.Role != auth.Operator {
				t.Errorf("role %s, want operator", u.Role)
			}
		}},
		{"user delete", func(t *testing.T, f *cacheFixture) {
			if err := f.db.DeleteUser(ctx, f.user.ID); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, f *cacheFixture) {
			if _, err := f.db.UserByID(ctx, f.user.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("deleted user: err %v, want ErrNotFound", err)
			}
		}},
		{"session change", func(t *testing.T, f *cacheFixture) {
			if err := f.db.SessionStore().CommitCtx(ctx, f.session, []byte("data-2"), f.clock.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, f *cacheFixture) { f.mustSession(t, "data-2") }},
		{"logout", func(t *testing.T, f *cacheFixture) {
			if err := f.db.SessionStore().DeleteCtx(ctx, f.session); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, f *cacheFixture) {
			if _, found, err := f.db.SessionStore().FindCtx(ctx, f.session); found || err != nil {
				t.Errorf("session after logout: found %v, %v", found, err)
			}
		}},
		{"token use", func(t *testing.T, f *cacheFixture) {
			if err := f.db.TouchToken(ctx, f.mustToken(t).ID, f.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, f *cacheFixture) {
			if tok := f.mustToken(t); tok.LastUsedAt == nil || !tok.LastUsedAt.Equal(f.clock.Now()) {
				t.Errorf("last use %v, want %s", tok.LastUsedAt, f.clock.Now())
			}
		}},
		{"token revoke", func(t *testing.T, f *cacheFixture) {
			if err := f.db.RevokeToken(ctx, "ci"); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, f *cacheFixture) {
			if _, err := f.db.TokenByHash(ctx, f.tokenHash); !errors.Is(err, ErrNotFound) {
				t.Errorf("revoked token: err %v, want ErrNotFound", err)
			}
		}},
		{"restore of the accounts", func(t *testing.T, f *cacheFixture) {
			// A backup in which vera has another name and no token
			// exists, restored.
			snap, path := snapshotOpened(t, f.other)
			for _, q := range []string{`UPDATE users SET name = 'restored' WHERE name = 'vera'`, `DELETE FROM api_tokens`} {
				if _, err := snap.SQL().Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			snap.Close()
			if _, err := f.db.RestoreAccounts(ctx, path); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, f *cacheFixture) {
			if _, found, err := f.db.SessionStore().FindCtx(ctx, f.session); found || err != nil {
				t.Errorf("session after the restore: found %v, %v", found, err)
			}
			if u, err := f.db.UserByID(ctx, f.user.ID); err != nil || u.Name != "restored" {
				t.Errorf("user after the restore: %q, %v; want the restored one", u.Name, err)
			}
			if _, err := f.db.TokenByHash(ctx, f.tokenHash); !errors.Is(err, ErrNotFound) {
				t.Errorf("token after the restore: err %v, want ErrNotFound", err)
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			f := newCacheFixture(t)
			// Another process's change of the cached rows is not seen
			// yet (the clock stands still): the answers come from memory.
			if _, err := f.other.SetPassword(ctx, f.user.ID, "hash-other", false); err != nil {
				t.Fatal(err)
			}
			f.mustUser(t, 1)
			st.write(t, f)
			st.check(t, f)
		})
	}
}

// TestCacheSeesOtherProcesses: a change another process made (a CLI
// password reset, a token revoked, a session ended) is answered within
// freshInterval of it, by the data_version check.
func TestCacheSeesOtherProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newCacheFixture(t)
	if _, err := f.other.SetPassword(ctx, f.user.ID, "hash-cli", false); err != nil {
		t.Fatal(err)
	}
	if err := f.other.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if err := f.other.SessionStore().DeleteCtx(ctx, f.session); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(f.clock.Now().Add(freshInterval - time.Nanosecond))
	f.mustUser(t, 1) // not yet: within the bound
	f.clock.Set(f.clock.Now().Add(time.Nanosecond))
	f.mustUser(t, 2)
	if _, err := f.db.TokenByHash(ctx, f.tokenHash); !errors.Is(err, ErrNotFound) {
		t.Errorf("token revoked by another process: err %v, want ErrNotFound", err)
	}
	if _, found, err := f.db.SessionStore().FindCtx(ctx, f.session); found || err != nil {
		t.Errorf("session ended by another process: found %v, %v", found, err)
	}
	// A clock set back looks again too.
	if _, err := f.other.SetPassword(ctx, f.user.ID, "hash-cli-2", false); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(f.clock.Now().Add(-time.Hour))
	f.mustUser(t, 3)
}

// TestCacheKeepsNoReadOlderThanAWrite: a lookup that read a row before a
// write of it does not keep what it read.
func TestCacheKeepsNoReadOlderThanAWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newCacheFixture(t)
	gen := f.db.cache.generation()
	stale, err := userByID(ctx, f.db.sql, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.SetPassword(ctx, f.user.ID, "hash-2", false); err != nil {
		t.Fatal(err)
	}
	f.db.cache.keepUser(gen, stale)
	f.mustUser(t, 2)
	key := sha256.Sum256([]byte(f.session))
	f.db.cache.keepSession(gen, key, cachedSession{data: []byte("stale"), expiry: f.clock.Now().Add(time.Hour).UnixNano()})
	f.mustSession(t, "data-1")
}

// TestCacheAfterSQL: once SQL has handed out the pool, a write through it
// is seen by the next lookup.
func TestCacheAfterSQL(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	if _, err := f.db.SQL().Exec(`UPDATE users SET session_epoch = 7 WHERE id = ?`, f.user.ID); err != nil {
		t.Fatal(err)
	}
	f.mustUser(t, 7)
}

// TestCacheExpiry: a cached session and token still end at their expiry.
func TestCacheExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newCacheFixture(t)
	_, hash := auth.NewToken()
	if _, err := f.db.CreateToken(ctx, "short", auth.Viewer, hash, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.TokenByHash(ctx, hash); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(f.clock.Now().Add(time.Hour))
	if _, found, err := f.db.SessionStore().FindCtx(ctx, f.session); found || err != nil {
		t.Errorf("expired session: found %v, %v", found, err)
	}
	if _, err := f.db.TokenByHash(ctx, hash); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired token: err %v, want ErrNotFound", err)
	}
}
