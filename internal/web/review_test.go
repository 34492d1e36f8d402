package web

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
)

// A deleted user's session must not come back to life as whoever is
// given the deleted user's ID next (SQLite reuses the highest rowid).
func TestDeletedUserSessionNotReusedByNewUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	admin, _ := h.adminClient()
	mal := h.addUser("mallory", auth.Viewer, userPassword)
	m := h.newClient()
	m.mustLogin("mallory", userPassword)

	admin.get("/users")
	if r := admin.post("/users/"+strconv.FormatInt(mal.ID, 10)+"/delete", nil); r.status != http.StatusSeeOther {
		t.Fatalf("delete = %d\n%s", r.status, r.body)
	}
	// A new admin, made with `devmgr user add` (no forced change).
	bob := h.addUser("bob", auth.Admin, userPassword)
	t.Logf("mallory had id %d, bob has id %d", mal.ID, bob.ID)

	r := m.get("/api/v1/me")
	if r.status == http.StatusOK {
		t.Fatalf("the deleted user's session still works: %s", r.body)
	}
	if r.status != http.StatusUnauthorized {
		t.Errorf("me = %d, want 401", r.status)
	}
}

// Parallel guesses must not all pass the throttle check before the first
// failure is recorded: 5 per username, 20 per source, however they come.
func TestLoginThrottleParallel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	burst := func(user func(i int) string) map[int]int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		counts := map[int]int{}
		for i := range 30 {
			wg.Go(func() {
				a := h.newClient().postJSON("/api/v1/login", map[string]string{"username": user(i), "password": "wrong password " + strconv.Itoa(i)}, nil)
				mu.Lock()
				counts[a.status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return counts
	}
	if c := burst(func(int) string { return "vera" }); c[http.StatusUnauthorized] != 5 || c[http.StatusTooManyRequests] != 25 {
		t.Errorf("30 parallel guesses for one user: %v, want 5 × 401 and 25 × 429", c)
	}
	// 5 failures from this source so far; 15 more are allowed.
	if c := burst(func(i int) string { return "guess" + strconv.Itoa(i) }); c[http.StatusUnauthorized] != 15 || c[http.StatusTooManyRequests] != 15 {
		t.Errorf("30 parallel guesses from one source: %v, want 15 × 401 and 15 × 429", c)
	}
}

// The change-password form checks the current password: guessing it
// there counts against the login throttle like guessing it at login.
func TestPasswordChangeThrottled(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	c := h.newClient()
	c.mustLogin("vera", userPassword)
	c.get("/account/password")
	const next = "a brand new long password"
	for i := range 5 {
		r := c.post("/account/password", url.Values{"current": {"guess number " + strconv.Itoa(i)}, "new": {next}, "confirm": {next}})
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("guess %d = %d, want 422", i+1, r.status)
		}
	}
	r := c.post("/account/password", url.Values{"current": {userPassword}, "new": {next}, "confirm": {next}})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 5 wrong current passwords = %d (Retry-After %q), want 429", r.status, r.header.Get("Retry-After"))
	}
	if r := h.newClient().login("vera", userPassword); r.status != http.StatusTooManyRequests {
		t.Errorf("login after 5 wrong current passwords = %d, want 429", r.status)
	}
}

// TestSessionReadWritesNothing: a request that changes nothing in the
// session leaves its row alone (scs with IdleTimeout would write it on every
// request); a minute on, a request moves the idle mark once.
func TestSessionReadWritesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	c := h.newClient()
	c.mustLogin("vera", userPassword)
	rows := func() string {
		t.Helper()
		var out []string
		r, err := h.db.SQL().Query(`SELECT hex(data), expiry FROM sessions ORDER BY hash`)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for r.Next() {
			var data string
			var expiry int64
			if err := r.Scan(&data, &expiry); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(data, expiry))
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, "\n")
	}
	before := rows()
	if before == "" {
		t.Fatal("no session row after login")
	}
	for range 5 {
		if r := c.get("/api/v1/me"); r.status != http.StatusOK {
			t.Fatalf("GET /api/v1/me = %d", r.status)
		}
	}
	if after := rows(); after != before {
		t.Errorf("reads wrote the session:\nbefore %s\nafter  %s", before, after)
	}
	h.clock.Advance(2 * time.Minute)
	if r := c.get("/api/v1/me"); r.status != http.StatusOK {
		t.Fatalf("GET /api/v1/me after 2 min = %d", r.status)
	}
	if after := rows(); after == before {
		t.Error("a request two minutes on did not move the idle mark")
	}
}

// TestTokenReadWritesNothing: a bearer token's use is recorded at most
// once a minute, so that reads with it write nothing in between, and the
// recorded last use stays right to the minute.
func TestTokenReadWritesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	bearer := h.bearer("ci")
	c := h.newClient()
	lastUsed := func() time.Time {
		t.Helper()
		if r := c.request(http.MethodGet, "/api/v1/me", nil, bearer); r.status != http.StatusOK {
			t.Fatalf("me with token = %d %s", r.status, r.body)
		}
		var n sql.NullInt64
		if err := h.db.SQL().QueryRow(`SELECT last_used_at FROM api_tokens WHERE name = 'ci'`).Scan(&n); err != nil || !n.Valid {
			t.Fatalf("last_used_at = %v, %v", n, err)
		}
		return time.Unix(0, n.Int64)
	}
	first := lastUsed()
	if !first.Equal(h.clock.Now()) {
		t.Errorf("first use recorded as %s, want %s", first, h.clock.Now())
	}
	h.clock.Advance(59 * time.Second)
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("a use 59s on wrote last_used_at %s, want it left at %s", got, first)
	}
	h.clock.Advance(time.Second)
	if got := lastUsed(); !got.Equal(h.clock.Now()) {
		t.Errorf("a use a minute on: last_used_at %s, want %s", got, h.clock.Now())
	}
	h.clock.Advance(-time.Hour) // the clock set back: recorded again
	if got := lastUsed(); !got.Equal(h.clock.Now()) {
		t.Errorf("a use after the clock went back: last_used_at %s, want %s", got, h.clock.Now())
	}
}
