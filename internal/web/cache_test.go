package web

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/accounts"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// The store keeps sessions, users and tokens in memory; the tests of
// logout, password and role changes, resets, deletes and token revokes
// (web_test.go, review_test.go) run through it. These cover the rest: a
// restore of the accounts, and changes another process makes.

// TestRestoreEndsSessions: a restore of the accounts ends every session at
// once, those the console holds in memory too.
func TestRestoreEndsSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	bearer := h.bearer("ci")
	c := h.newClient()
	c.mustLogin("vera", userPassword)
	if r := c.get("/api/v1/me"); r.status != http.StatusOK {
		t.Fatalf("me = %d", r.status)
	}
	ctx := context.Background()
	snapDir := t.TempDir()
	path := filepath.Join(snapDir, store.FileName)
	if err := h.db.Snapshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	snap, err := store.Open(ctx, snapDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	snap.Close()
	if _, err := h.db.RestoreAccounts(ctx, path); err != nil {
		t.Fatal(err)
	}
	if r := c.get("/api/v1/me"); r.status != http.StatusUnauthorized {
		t.Errorf("me after the restore = %d, want 401", r.status)
	}
	if r := c.request(http.MethodGet, "/api/v1/me", nil, bearer); r.status != http.StatusUnauthorized {
		t.Errorf("me with a token the restore does not have = %d, want 401", r.status)
	}
}

// TestOtherProcessEndsSessions: what devmgr user and token do from another
// process (its own connection to the database) ends the sessions and
// tokens it concerns soon after (the store looks for others' writes once a
// second), though the console holds them in memory.
func TestOtherProcessEndsSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	cli, err := store.Open(ctx, h.cfg.DataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	acc, err := accounts.New(accounts.Config{DB: cli, Log: slog.New(slog.DiscardHandler), DataDir: h.cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	ended := func(what string, c *client, headers map[string]string) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, func() bool {
			return c.request(http.MethodGet, "/api/v1/me", nil, headers).status == http.StatusUnauthorized
		}, "%s ends the console's session", what)
	}

	h.addUser("vera", auth.Viewer, userPassword)
	vera := h.newClient()
	vera.mustLogin("vera", userPassword)
	if err := acc.SetPassword(ctx, accounts.CLI, "vera", "another long password"); err != nil {
		t.Fatal(err)
	}
	ended("devmgr user passwd", vera, nil)

	mal := h.addUser("mallory", auth.Viewer, userPassword)
	m := h.newClient()
	m.mustLogin("mallory", userPassword)
	if err := acc.DeleteUser(ctx, accounts.CLI, mal); err != nil {
		t.Fatal(err)
	}
	ended("devmgr user del", m, nil)

	bearer := h.bearer("ci")
	tc := h.newClient()
	if r := tc.request(http.MethodGet, "/api/v1/me", nil, bearer); r.status != http.StatusOK {
		t.Fatalf("me with the token = %d", r.status)
	}
	if err := cli.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	ended("devmgr token revoke", tc, bearer)
}
