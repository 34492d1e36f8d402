package web

import (
	"context"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/devmgr/devmgr/internal/store"
)

// idleStore is the sessions table with scs's idle expiry done here instead
// of by scs. With scs.SessionManager.IdleTimeout set, scs marks every loaded
// session modified and so writes its row on every request; without it a
// read writes nothing unless the session changed (sessionIdentity moves
// keySeen at most once per seenInterval). A row still expires idle seconds
// after its last write, as scs would have set it, and never after the
// session's lifetime; sessionIdentity, by keySeen, decides the idle expiry.
type idleStore struct {
	*store.SessionStore
	idle time.Duration
}

var (
	_ scs.Store    = idleStore{}
	_ scs.CtxStore = idleStore{}
)

// expiry is scs's row expiry with IdleTimeout set. Like scs it reads the
// real clock: the store compares expiries with the real clock too.
func (st idleStore) expiry(deadline time.Time) time.Time {
	if ie := time.Now().Add(st.idle).UTC(); ie.Before(deadline) {
		return ie
	}
	return deadline
}

// CommitCtx stores a session with the idle expiry.
func (st idleStore) CommitCtx(ctx context.Context, token string, b []byte, deadline time.Time) error {
	return st.SessionStore.CommitCtx(ctx, token, b, st.expiry(deadline))
}

// Commit is CommitCtx without a context, for scs.Store.
func (st idleStore) Commit(token string, b []byte, deadline time.Time) error {
	return st.CommitCtx(context.Background(), token, b, deadline)
}

// seenInterval is how stale a session's keySeen may get before a request
// moves it: a write per minute at most instead of one per read. A session
// thus ends between idle-seenInterval and idle after its last request,
// never later; a tenth of the idle timeout keeps that slack small for
// short timeouts (the shortest allowed is 1m).
func seenInterval(idle time.Duration) time.Duration {
	return min(time.Minute, idle/10)
}
