package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Login throttle policy: a username or a source address that has failed
// this often within the window is refused until enough failures age out.
const (
	ThrottleWindow    = 15 * time.Minute
	MaxUserFailures   = 5
	MaxSourceFailures = 20
	maxThrottleKeyLen = 256
)

// ThrottleStore persists login failures, so that restarting the server
// does not forgive them. *store.DB implements it.
type ThrottleStore interface {
	AddLoginFailure(ctx context.Context, username, source string, at time.Time) error
	// LoginFailures returns failure times after since, oldest first.
	LoginFailures(ctx context.Context, username, source string, since time.Time) (byUser, bySource []time.Time, err error)
	ClearLoginFailures(ctx context.Context, username string) error
}

// Throttle limits password guessing: 5 failures per username or 20 per
// source address within 15 minutes.
type Throttle struct {
	st  ThrottleStore
	now func() time.Time
}

// NewThrottle returns a throttle keeping its failures in st. now is the
// clock; nil means time.Now.
func NewThrottle(st ThrottleStore, now func() time.Time) *Throttle {
	if st == nil {
		panic("auth: NewThrottle needs a ThrottleStore")
	}
	if now == nil {
		now = time.Now
	}
	return &Throttle{st: st, now: now}
}

// normalize keys failures so that case variants of a name share a count,
// and a huge submitted name is not stored whole.
func normalize(username string) string {
	username = strings.ToLower(strings.TrimSpace(username))
	if len(username) > maxThrottleKeyLen {
		username = username[:maxThrottleKeyLen]
	}
	return username
}

// Check reports how long a login for username from source must wait; 0
// means it may proceed. Call it before verifying the password.
func (t *Throttle) Check(ctx context.Context, username, source string) (retryAfter time.Duration, err error) {
	now := t.now()
	byUser, bySource, err := t.st.LoginFailures(ctx, normalize(username), source, now.Add(-ThrottleWindow))
	if err != nil {
		return 0, fmt.Errorf("checking login throttle: %w", err)
	}
	return max(wait(byUser, MaxUserFailures, now), wait(bySource, MaxSourceFailures, now)), nil
}

// wait is how long until fewer than limit of the failures (oldest first,
// all inside the window) remain inside the window: until the one that
// brought the count to the limit, counting back from the newest, leaves.
func wait(failures []time.Time, limit int, now time.Time) time.Duration {
	if len(failures) < limit {
		return 0
	}
	d := failures[len(failures)-limit].Add(ThrottleWindow).Sub(now)
	return max(d, time.Second) // never 0 for a refusal, whatever the clock did
}

// Failure records a failed login.
func (t *Throttle) Failure(ctx context.Context, username, source string) error {
	if err := t.st.AddLoginFailure(ctx, normalize(username), source, t.now()); err != nil {
		return fmt.Errorf("recording login failure: %w", err)
	}
	return nil
}

// Success forgets username's failures after it logged in. Failures from
// the source for other names stay.
func (t *Throttle) Success(ctx context.Context, username string) error {
	if username == "" {
		return errors.New("clearing login failures: empty username")
	}
	if err := t.st.ClearLoginFailures(ctx, normalize(username)); err != nil {
		return fmt.Errorf("clearing login failures: %w", err)
	}
	return nil
}
