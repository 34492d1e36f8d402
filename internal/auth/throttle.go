package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Login throttle policy. Hard limits stop one source: a username that
// failed MaxUserSourceFailures times from a source, or a source that failed
// MaxSourceFailures times, is refused there until enough failures age out
// of ThrottleWindow. A username alone is never refused (anyone could lock
// its owner out): its failures from everywhere only delay each attempt,
// UserDelayBase doubling per failure up to UserDelayMax. Once more than
// GlobalBudget logins failed within GlobalWindow, sources that have not
// logged in within KnownSourceMemory are paced: admitted one per
// GlobalWindow/GlobalBudget, at most MaxPaceWait ahead, refused beyond.
const (
	ThrottleWindow        = 15 * time.Minute
	MaxUserSourceFailures = 5
	MaxSourceFailures     = 20
	UserDelayBase         = 250 * time.Millisecond
	UserDelayMax          = 4 * time.Second
	GlobalBudget          = 60
	GlobalWindow          = time.Minute
	KnownSourceMemory     = 30 * 24 * time.Hour
	MaxPaceWait           = 32 * PaceInterval
	PaceInterval          = GlobalWindow / GlobalBudget
	maxThrottleKeyLen     = 256
)

// ThrottleStore persists login failures and successes, so that restarting
// the server does not forgive them. *store.DB implements it.
type ThrottleStore interface {
	AddLoginFailure(ctx context.Context, username, source string, at time.Time) error
	// LoginFailures returns failure times after since, oldest first.
	LoginFailures(ctx context.Context, username, source string, since time.Time) (byUserSource, bySource []time.Time, err error)
	// CountLoginFailures counts username's failures after since from
	// every source; "" counts everyone's.
	CountLoginFailures(ctx context.Context, username string, since time.Time) (int, error)
	ClearLoginFailures(ctx context.Context, username string) error
	ClearLoginFailuresFrom(ctx context.Context, username, source string) error
	AddLoginSuccess(ctx context.Context, source string, at time.Time) error
	// LastLoginSuccess is the zero time for a source never seen to log in.
	LastLoginSuccess(ctx context.Context, source string) (time.Time, error)
}

// Throttle limits password guessing; see the policy constants.
type Throttle struct {
	st  ThrottleStore
	now func() time.Time

	mu       sync.Mutex
	nextPace time.Time // the next free pacing slot
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

// SourceKey is the throttle's key of a client address: an IPv4 address
// itself, an IPv6 address's /64 (one subscriber's usual share, so a
// rotating address within it counts as one source). Anything else is used
// as it is, clipped.
func SourceKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		if len(addr) > maxThrottleKeyLen {
			addr = addr[:maxThrottleKeyLen]
		}
		return addr
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// Decision is the throttle's answer before a password check.
type Decision struct {
	// RetryAfter, when positive, refuses the attempt: try again after it.
	RetryAfter time.Duration
	// Delay is how long to wait before checking the password.
	Delay time.Duration
}

// Check decides about a login for username from source (a client
// address). Call it before verifying the password, wait Decision.Delay,
// then call Blocked again under the lock that orders the attempts of the
// username and source. Check takes a pacing slot when pacing applies.
func (t *Throttle) Check(ctx context.Context, username, source string) (Decision, error) {
	retry, err := t.Blocked(ctx, username, source)
	if err != nil || retry > 0 {
		return Decision{RetryAfter: retry}, err
	}
	now := t.now()
	n, err := t.st.CountLoginFailures(ctx, normalize(username), now.Add(-ThrottleWindow))
	if err != nil {
		return Decision{}, fmt.Errorf("counting login failures of user: %w", err)
	}
	d := Decision{Delay: userDelay(n)}
	pace, err := t.mustPace(ctx, source, now)
	if err != nil || !pace {
		return d, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	slot := t.nextPace
	if slot.Before(now) {
		slot = now
	}
	if wait := slot.Sub(now); wait >= MaxPaceWait {
		return Decision{RetryAfter: max(wait-MaxPaceWait+PaceInterval, time.Second)}, nil
	}
	t.nextPace = slot.Add(PaceInterval)
	d.Delay = max(d.Delay, slot.Sub(now))
	return d, nil
}

// userDelay is the wait of a username with n recent failures.
func userDelay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := UserDelayBase
	for i := 1; i < n && d < UserDelayMax; i++ {
		d *= 2
	}
	return min(d, UserDelayMax)
}

// mustPace reports whether the global budget is spent and source has not
// logged in recently.
func (t *Throttle) mustPace(ctx context.Context, source string, now time.Time) (bool, error) {
	n, err := t.st.CountLoginFailures(ctx, "", now.Add(-GlobalWindow))
	if err != nil {
		return false, fmt.Errorf("counting login failures: %w", err)
	}
	if n < GlobalBudget {
		return false, nil
	}
	last, err := t.st.LastLoginSuccess(ctx, SourceKey(source))
	if err != nil {
		return false, fmt.Errorf("looking up the source's last login: %w", err)
	}
	return last.IsZero() || now.Sub(last) > KnownSourceMemory, nil
}

// Blocked reports how long username may not log in from source; 0 means
// it may try. Only (username, source) and source alone block.
func (t *Throttle) Blocked(ctx context.Context, username, source string) (time.Duration, error) {
	now := t.now()
	byUserSource, bySource, err := t.st.LoginFailures(ctx, normalize(username), SourceKey(source), now.Add(-ThrottleWindow))
	if err != nil {
		return 0, fmt.Errorf("checking login throttle: %w", err)
	}
	return max(wait(byUserSource, MaxUserSourceFailures, now), wait(bySource, MaxSourceFailures, now)), nil
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
	if err := t.st.AddLoginFailure(ctx, normalize(username), SourceKey(source), t.now()); err != nil {
		return fmt.Errorf("recording login failure: %w", err)
	}
	return nil
}

// Success forgets username's failures from source after it logged in
// there, and remembers the source as one that logs in. Failures of the
// username from elsewhere, and of the source for other names, stay.
func (t *Throttle) Success(ctx context.Context, username, source string) error {
	if username == "" {
		return errors.New("clearing login failures: empty username")
	}
	key := SourceKey(source)
	if err := t.st.ClearLoginFailuresFrom(ctx, normalize(username), key); err != nil {
		return fmt.Errorf("clearing login failures: %w", err)
	}
	if err := t.st.AddLoginSuccess(ctx, key, t.now()); err != nil {
		return fmt.Errorf("remembering login source: %w", err)
	}
	return nil
}

// Unlock forgets every failure of username, from every source: for an
// admin's unlock or password reset.
func (t *Throttle) Unlock(ctx context.Context, username string) error {
	if err := t.st.ClearLoginFailures(ctx, normalize(username)); err != nil {
		return fmt.Errorf("unlocking %q: %w", username, err)
	}
	return nil
}
