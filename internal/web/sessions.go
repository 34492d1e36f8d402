package web

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
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

// sessionCodec encodes a session's values without reflection: every
// signed-in request decodes its session, and gob's decoder (scs's
// default) was a fifth of such a request's CPU. The values the console
// keeps are strings and integers; a session holding anything else is
// encoded with gob, and rows written by gob (before this codec, or with
// such a value) are read with it.
type sessionCodec struct{}

var _ scs.Codec = sessionCodec{}

// sessionMagic starts the codec's encoding. A gob stream never starts
// with a zero byte (its first message's length).
const sessionMagic = "\x00dm1"

// Value types of the encoding.
const (
	sessionString byte = 's'
	sessionInt64  byte = 'q'
	sessionInt    byte = 'i'
	sessionBool   byte = 'b'
)

// Encode implements scs.Codec.
func (sessionCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	b := make([]byte, 0, 128)
	b = append(b, sessionMagic...)
	b = binary.AppendVarint(b, deadline.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(values)))
	for _, k := range slices.Sorted(maps.Keys(values)) { // the same values, the same bytes
		b = appendString(b, k)
		switch v := values[k].(type) {
		case string:
			b = appendString(append(b, sessionString), v)
		case int64:
			b = binary.AppendVarint(append(b, sessionInt64), v)
		case int:
			b = binary.AppendVarint(append(b, sessionInt), int64(v))
		case bool:
			b = append(b, sessionBool, boolByte(v))
		default:
			return scs.GobCodec{}.Encode(deadline, values)
		}
	}
	return b, nil
}

// Decode implements scs.Codec.
func (sessionCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	rest, ok := bytes.CutPrefix(b, []byte(sessionMagic))
	if !ok {
		return scs.GobCodec{}.Decode(b)
	}
	d := sessionDecoder{b: rest}
	deadline := time.Unix(0, d.varint())
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each value takes a byte at least
		return time.Time{}, nil, errBadSession
	}
	values := make(map[string]any, n)
	for range n {
		k := d.str()
		switch d.next() {
		case sessionString:
			values[k] = d.str()
		case sessionInt64:
			values[k] = d.varint()
		case sessionInt:
			values[k] = int(d.varint())
		case sessionBool:
			values[k] = d.next() == 1
		default:
			d.err = true
		}
	}
	if d.err || len(d.b) != 0 {
		return time.Time{}, nil, errBadSession
	}
	return deadline, values, nil
}

var errBadSession = errors.New("decoding session data: malformed")

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// sessionDecoder reads sessionCodec's encoding; err records the first
// problem, after which every read returns zero.
type sessionDecoder struct {
	b   []byte
	err bool
}

func (d *sessionDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	return took(d, v, n)
}

func (d *sessionDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	return took(d, v, n)
}

// took moves past a number of n bytes read as v (n <= 0: none could be).
func took[T int64 | uint64](d *sessionDecoder, v T, n int) T {
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *sessionDecoder) next() byte {
	if len(d.b) == 0 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *sessionDecoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = true, nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
