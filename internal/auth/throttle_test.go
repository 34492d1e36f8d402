package auth_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func openStore(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func check(t *testing.T, th *auth.Throttle, user, src string) auth.Decision {
	t.Helper()
	d, err := th.Check(context.Background(), user, src)
	if err != nil {
		t.Fatalf("Check(%s, %s): %v", user, src, err)
	}
	return d
}

func fail(t *testing.T, th *auth.Throttle, user, src string) {
	t.Helper()
	if err := th.Failure(context.Background(), user, src); err != nil {
		t.Fatalf("Failure(%s, %s): %v", user, src, err)
	}
}

// Five failures of a user from one source block that user there only;
// elsewhere the user's failures only delay.
func TestThrottleUserSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := testutil.NewClock(start())
	th := auth.NewThrottle(openStore(t, dir), c.Now)

	for i := range 5 {
		if d := check(t, th, "alice", "10.0.0.1"); d.RetryAfter != 0 {
			t.Fatalf("refused after %d failures (retry %v)", i, d.RetryAfter)
		}
		fail(t, th, "alice", "10.0.0.1")
		c.Advance(time.Minute)
	}
	// Now 5 min after the first failure: wait until it is 15 min old.
	if d, want := check(t, th, "alice", "10.0.0.1"), 10*time.Minute; d.RetryAfter != want {
		t.Errorf("after 5 failures retryAfter = %v, want %v", d.RetryAfter, want)
	}
	// Case variants share the count.
	if d := check(t, th, "ALICE", "10.0.0.1"); d.RetryAfter == 0 {
		t.Error("ALICE not throttled with alice")
	}
	// Another source may try, after the user's delay.
	if d, want := check(t, th, "alice", "10.0.0.2"), (auth.Decision{Delay: auth.UserDelayMax}); d != want {
		t.Errorf("alice from elsewhere: %+v, want %+v", d, want)
	}
	// Other users are unaffected, even from the blocked source.
	if d := check(t, th, "bob", "10.0.0.1"); d != (auth.Decision{}) {
		t.Errorf("bob: %+v", d)
	}

	// A restart does not reset it.
	th = auth.NewThrottle(openStore(t, dir), c.Now)
	if d := check(t, th, "alice", "10.0.0.1"); d.RetryAfter != 10*time.Minute {
		t.Errorf("after reopening retryAfter = %v, want 10m", d.RetryAfter)
	}

	// When the oldest failure leaves the window, the user may try again.
	c.Advance(10 * time.Minute)
	if d := check(t, th, "alice", "10.0.0.1"); d.RetryAfter != 0 {
		t.Errorf("after the window retryAfter = %v, want 0", d.RetryAfter)
	}
	// ...but one more failure locks again, until the next-oldest leaves.
	fail(t, th, "alice", "10.0.0.1")
	if d, want := check(t, th, "alice", "10.0.0.1"), time.Minute; d.RetryAfter != want {
		t.Errorf("after a sixth failure retryAfter = %v, want %v", d.RetryAfter, want)
	}

	// Success elsewhere leaves the block; success there clears it.
	if err := th.Success(context.Background(), "alice", "10.0.0.2"); err != nil {
		t.Fatal(err)
	}
	if d := check(t, th, "alice", "10.0.0.1"); d.RetryAfter == 0 {
		t.Error("success from another source lifted the block")
	}
	if err := th.Success(context.Background(), "alice", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if d := check(t, th, "alice", "10.0.0.1"); d != (auth.Decision{}) {
		t.Errorf("after success there: %+v, want nothing", d)
	}
}

func TestThrottleUserDelay(t *testing.T) {
	t.Parallel()
	c := testutil.NewClock(start())
	th := auth.NewThrottle(openStore(t, t.TempDir()), c.Now)
	want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	for n, w := range want {
		if d := check(t, th, "carol", "192.0.2.200"); d.Delay != w || d.RetryAfter != 0 {
			t.Errorf("after %d failures: %+v, want delay %v", n, d, w)
		}
		fail(t, th, "carol", fmt.Sprintf("192.0.2.%d", n)) // each from elsewhere
	}
	// Unlock forgets them all.
	if err := th.Unlock(context.Background(), "Carol"); err != nil {
		t.Fatal(err)
	}
	if d := check(t, th, "carol", "192.0.2.1"); d != (auth.Decision{}) {
		t.Errorf("after unlock: %+v", d)
	}
}

func TestThrottleSource(t *testing.T) {
	t.Parallel()
	c := testutil.NewClock(start())
	th := auth.NewThrottle(openStore(t, t.TempDir()), c.Now)

	// 20 failures from one address, each for a different name.
	for i := range 20 {
		if d := check(t, th, fmt.Sprintf("u%d", i), "192.0.2.1"); d.RetryAfter != 0 {
			t.Fatalf("refused after %d failures (retry %v)", i, d.RetryAfter)
		}
		fail(t, th, fmt.Sprintf("u%d", i), "192.0.2.1")
		c.Advance(30 * time.Second)
	}
	// 10 min after the first: 5 min to go, whatever the name.
	if d, want := check(t, th, "newname", "192.0.2.1"), 5*time.Minute; d.RetryAfter != want {
		t.Errorf("source retryAfter = %v, want %v", d.RetryAfter, want)
	}
	if d := check(t, th, "newname", "192.0.2.2"); d.RetryAfter != 0 {
		t.Errorf("other source throttled: %v", d.RetryAfter)
	}
	// Success for one name leaves the source with 19: below the limit.
	th.Success(context.Background(), "u0", "192.0.2.1")
	if d := check(t, th, "newname", "192.0.2.1"); d.RetryAfter != 0 {
		t.Errorf("after one name's success retryAfter = %v, want 0", d.RetryAfter)
	}
	fail(t, th, "x", "192.0.2.1")
	c.Advance(15 * time.Minute)
	if d := check(t, th, "newname", "192.0.2.1"); d.RetryAfter != 0 {
		t.Errorf("after the window retryAfter = %v, want 0", d.RetryAfter)
	}
}

// An IPv6 source is its /64: rotating the interface ID does not help.
func TestThrottleIPv6Prefix(t *testing.T) {
	t.Parallel()
	c := testutil.NewClock(start())
	th := auth.NewThrottle(openStore(t, t.TempDir()), c.Now)
	for i := range auth.MaxSourceFailures {
		fail(t, th, fmt.Sprintf("u%d", i), fmt.Sprintf("2001:db8:1:2:%x::1", i+1))
	}
	if d := check(t, th, "newname", "2001:db8:1:2:ffff:ffff:ffff:fffe"); d.RetryAfter == 0 {
		t.Error("another address of the same /64 is not throttled")
	}
	if d := check(t, th, "newname", "2001:db8:1:3::1"); d.RetryAfter != 0 {
		t.Errorf("the next /64 is throttled: %v", d.RetryAfter)
	}
}

func TestSourceKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.7":               "192.0.2.7",
		"::ffff:192.0.2.7":        "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":    "2001:db8:1:2::/64",
		"fe80::1%eth0":            "fe80::/64",
		"local":                   "local",
		strings.Repeat("x", 1000): strings.Repeat("x", 256),
	} {
		if got := auth.SourceKey(in); got != want {
			t.Errorf("SourceKey(%.20q) = %q, want %q", in, got, want)
		}
	}
}

// Once GlobalBudget failures happened within a minute, unknown sources are
// admitted one per PaceInterval, refused beyond MaxPaceWait; a source that
// logged in before is not slowed.
func TestThrottleGlobalBudget(t *testing.T) {
	t.Parallel()
	c := testutil.NewClock(start())
	th := auth.NewThrottle(openStore(t, t.TempDir()), c.Now)
	if err := th.Success(context.Background(), "admin", "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	for i := range auth.GlobalBudget - 1 {
		fail(t, th, fmt.Sprintf("u%d", i), fmt.Sprintf("2001:db8:%x::1", i))
	}
	if d := check(t, th, "newname", "203.0.113.1"); d != (auth.Decision{}) {
		t.Fatalf("budget not yet spent: %+v", d)
	}
	fail(t, th, "last", "2001:db8:ffff::1")
	for i := range int(auth.MaxPaceWait / auth.PaceInterval) {
		want := auth.Decision{Delay: time.Duration(i) * auth.PaceInterval}
		if d := check(t, th, "newname", fmt.Sprintf("203.0.113.%d", i+1)); d != want {
			t.Fatalf("unknown source %d: %+v, want %+v", i, d, want)
		}
	}
	if d := check(t, th, "newname", "203.0.113.200"); d.RetryAfter <= 0 {
		t.Errorf("past the pacing queue: %+v, want a refusal", d)
	}
	if d := check(t, th, "admin", "198.51.100.1"); d != (auth.Decision{}) {
		t.Errorf("known source: %+v, want nothing", d)
	}
	// A minute on the budget is back.
	c.Advance(auth.GlobalWindow + auth.MaxPaceWait)
	if d := check(t, th, "newname", "203.0.113.201"); d != (auth.Decision{}) {
		t.Errorf("a minute on: %+v", d)
	}
}

// start is the fake clock's start: near the real time, because the store
// prunes failures more than a day older than the real clock.
func start() time.Time { return time.Now().UTC().Truncate(time.Second) }
