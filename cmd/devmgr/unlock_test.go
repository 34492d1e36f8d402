package main

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// unlock, and a password set with passwd, forget the user's failed logins
// from every address; other users' stay.
func TestUserUnlock(t *testing.T) {
	e := newCLIEnv(t)
	e.must(goodPassword, "user", "add", "bob", "--role", "admin", "--password-stdin")
	e.must(goodPassword, "user", "add", "carol", "--role", "viewer", "--password-stdin")
	ctx := context.Background()
	fail := func(users ...string) {
		t.Helper()
		db := e.db()
		for i, u := range users {
			for _, src := range []string{"203.0.113.9", "2001:db8::/64"} {
				if err := db.AddLoginFailure(ctx, u, src, time.Now().Add(-time.Duration(i)*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
		}
		db.Close()
	}
	failures := func(user string) int {
		t.Helper()
		db := e.db()
		defer db.Close()
		n, err := db.CountLoginFailures(ctx, user, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	fail("bob", "carol")
	if out := e.must("", "user", "unlock", "bob"); out != "unlocked user \"bob\"\n" {
		t.Errorf("unlock printed %q", out)
	}
	if b, c := failures("bob"), failures("carol"); b != 0 || c != 2 {
		t.Errorf("after unlock bob: bob %d, carol %d failures; want 0 and 2", b, c)
	}
	e.fails(`user "nobody" does not exist`, "", "user", "unlock", "nobody")

	fail("bob")
	e.must(goodPassword+"!", "user", "passwd", "bob", "--password-stdin")
	if n := failures("bob"); n != 0 {
		t.Errorf("after passwd: %d failures, want 0", n)
	}
	want := []string{
		"cli local user.add bob ok",
		"cli local user.add carol ok",
		"cli local user.unlock bob ok",
		"cli local user.passwd bob ok",
	}
	if diff := cmp.Diff(want, e.audit()); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}
