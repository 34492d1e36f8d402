package auth_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openStore(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func check(t *testing.T, th *auth.Throttle, user, src string) time.Duration {
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

func TestThrottleUser(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: start()}
	th := auth.NewThrottle(openStore(t, dir), c.Now)

	// Five failures a minute apart, from different sources.
	for i := range 5 {
		if d := check(t, th, "alice", "10.0.0.9"); d != 0 {
			t.Fatalf("refused after %d failures (retry %v)", i, d)
		}
		fail(t, th, "alice", fmt.Sprintf("10.0.0.%d", i))
		c.Advance(time.Minute)
	}
	// Now 5 min after the first failure: wait until it is 15 min old.
	if d, want := check(t, th, "alice", "10.0.0.9"), 10*time.Minute; d != want {
		t.Errorf("after 5 failures retryAfter = %v, want %v", d, want)
	}
	// Case variants share the count.
	if d := check(t, th, "ALICE", "10.0.0.9"); d == 0 {
		t.Error("ALICE not throttled with alice")
	}
	// Other users are unaffected.
	if d := check(t, th, "bob", "10.0.0.9"); d != 0 {
		t.Errorf("bob throttled: %v", d)
	}

	// A restart does not reset it.
	th = auth.NewThrottle(openStore(t, dir), c.Now)
	if d := check(t, th, "alice", "10.0.0.9"); d != 10*time.Minute {
		t.Errorf("after reopening retryAfter = %v, want 10m", d)
	}

	// When the oldest failure leaves the window, the user may try again.
	c.Advance(10 * time.Minute)
	if d := check(t, th, "alice", "10.0.0.9"); d != 0 {
		t.Errorf("after the window retryAfter = %v, want 0", d)
	}
	// ...but one more failure locks again, until the next-oldest leaves.
	fail(t, th, "alice", "10.0.0.9")
	if d, want := check(t, th, "alice", "10.0.0.9"), time.Minute; d != want {
		t.Errorf("after a sixth failure retryAfter = %v, want %v", d, want)
	}

	// Success clears the user's failures.
	if err := th.Success(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if d := check(t, th, "alice", "10.0.0.9"); d != 0 {
		t.Errorf("after success retryAfter = %v, want 0", d)
	}
}

func TestThrottleSource(t *testing.T) {
	c := &clock{t: start()}
	th := auth.NewThrottle(openStore(t, t.TempDir()), c.Now)

	// 20 failures from one address, each for a different name.
	for i := range 20 {
		if d := check(t, th, fmt.Sprintf("u%d", i), "192.0.2.1"); d != 0 {
			t.Fatalf("refused after %d failures (retry %v)", i, d)
		}
		fail(t, th, fmt.Sprintf("u%d", i), "192.0.2.1")
		c.Advance(30 * time.Second)
	}
	// 10 min after the first: 5 min to go, whatever the name.
	if d, want := check(t, th, "newname", "192.0.2.1"), 5*time.Minute; d != want {
		t.Errorf("source retryAfter = %v, want %v", d, want)
	}
	if d := check(t, th, "newname", "192.0.2.2"); d != 0 {
		t.Errorf("other source throttled: %v", d)
	}
	// Success for one name leaves the source with 19: below the limit.
	th.Success(context.Background(), "u0")
	if d := check(t, th, "newname", "192.0.2.1"); d != 0 {
		t.Errorf("after one name's success retryAfter = %v, want 0", d)
	}
	fail(t, th, "x", "192.0.2.1")
	c.Advance(15 * time.Minute)
	if d := check(t, th, "newname", "192.0.2.1"); d != 0 {
		t.Errorf("after the window retryAfter = %v, want 0", d)
	}
}

// The larger of the two waits wins.
func TestThrottleBoth(t *testing.T) {
	c := &clock{t: start()}
	th := auth.NewThrottle(openStore(t, t.TempDir()), c.Now)
	for i := range 20 {
		fail(t, th, "alice", "192.0.2.1")
		if i == 0 {
			c.Advance(5 * time.Minute)
		}
	}
	// alice: her 16th failure (at +5m) is the fifth newest: 15m to wait.
	// source: the first failure (at +0) is the 20th newest: 10m.
	if d, want := check(t, th, "alice", "192.0.2.1"), 15*time.Minute; d != want {
		t.Errorf("retryAfter = %v, want %v", d, want)
	}
}

// start is the fake clock's start: near the real time, because the store
// prunes failures more than a day older than the real clock.
func start() time.Time { return time.Now().UTC().Truncate(time.Second) }
