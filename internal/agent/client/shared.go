package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
)

// Option changes a default of New.
type Option func(*Client)

// maxSharedBody bounds an answer kept for sharing; a longer one is passed
// on and not kept.
const maxSharedBody = 1 << 20

// WithSharedReads keeps each answer of a shared read (api.SharedReads) for
// up to maxAge and gives it to every caller of the same role and request
// (path and query) meanwhile, the typed calls and the proxy (Transport)
// alike; callers that ask while the agent is being asked wait for that
// answer. Any other request through the client (a change) forgets every
// kept answer, so that the console reads what it changed. A refusal
// (the access point not running) is an answer of the agent's and is kept
// too; a failure to reach the agent is not.
//
// An answer is asked for again ahead of its end: the first caller in the
// last quarter of maxAge asks the agent, while the others are still given
// the kept answer, so that under load callers do not all wait for the
// agent each time an answer ends (and the agent and this caller's
// goroutine are slowest to get a CPU then).
//
// A typed call decodes a kept answer once: the callers it is given to
// share the value (its slices, maps and pointers), which they read and
// never change.
func WithSharedReads(maxAge time.Duration) Option {
	return func(c *Client) {
		s := newSharedReads(c.hc.Transport, maxAge, time.Now)
		c.hc.Transport = s
		if c.slow != nil {
			// The slow tasks (a restore, its confirmation) change things too.
			c.slow.Transport = changes{s, c.slow.Transport}
		}
	}
}

// changes is the round tripper of requests that bypass sharedReads (the
// slow client's): each forgets the kept answers as a change through it
// does.
type changes struct {
	s    *sharedReads
	next http.RoundTripper
}

func (c changes) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		c.s.forget()
		defer c.s.forget()
	}
	return c.next.RoundTrip(req)
}

// sharedReads is the round tripper of WithSharedReads.
type sharedReads struct {
	next   http.RoundTripper
	maxAge time.Duration
	now    func() time.Time
	routes *http.ServeMux // matches the shared reads

	mu      sync.Mutex
	gen     uint64 // moves with every other request: an answer asked before it is not kept
	answers map[string]*sharedAnswer
}

// sharedAnswer is a kept answer, or one being asked for (done open).
// Those who waited for it get it whatever it is (an error, a refusal);
// it is kept for later callers only when ok.
type sharedAnswer struct {
	done   chan struct{}
	at     time.Time
	err    error
	status int
	header http.Header
	body   []byte
	whole  bool // body is all of it: waiters may be given it
	ok     bool // kept: asked since the last change
	// renewing is set while a caller asks for the answer that will
	// replace this one (guarded by sharedReads.mu).
	renewing bool
	// decoded holds the body decoded by typed calls, by the type of
	// their value (reflect.Type of the pointer → the pointer).
	decoded sync.Map
	// refusal is a refusal's body decoded, once.
	refusalOnce sync.Once
	refusal     *api.Error
}

// sharedBody is the body of an answer given from a sharedAnswer.
type sharedBody struct {
	*bytes.Reader
	a *sharedAnswer
}

func (sharedBody) Close() error { return nil }

// lookup returns the kept answer of a GET of path (with its query) for
// role, if one is fresh: the typed calls take it without a request.
func (s *sharedReads) lookup(role, path string) (*sharedAnswer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.answers[role+" "+path]
	if a == nil || !isDone(a.done) || !a.ok || !s.fresh(a.at) || s.renewDue(a) {
		return nil, false // asked through RoundTrip
	}
	return a, true
}

// decode decodes the answer's JSON into out, once per type: a later call
// is given the value decoded then (shallowly copied: shared).
func (a *sharedAnswer) decode(out any) error {
	t := reflect.TypeOf(out)
	if v, found := a.decoded.Load(t); found {
		reflect.ValueOf(out).Elem().Set(reflect.ValueOf(v).Elem())
		return nil
	}
	if err := json.Unmarshal(a.body, out); err != nil {
		return err
	}
	kept := reflect.New(t.Elem())
	kept.Elem().Set(reflect.ValueOf(out).Elem())
	a.decoded.Store(t, kept.Interface())
	return nil
}

// Kept returns the kept answer of a shared read of requestURI (the
// agent's path with its query) for role, when a fresh one is kept: a
// proxy may answer with it without a request. The header and body are
// shared: never change them.
func (c *Client) Kept(role, requestURI string) (status int, header http.Header, body []byte, ok bool) {
	a, found := c.kept(role, requestURI)
	if !found {
		return 0, nil, nil, false
	}
	return a.status, a.header, a.body, true
}

// shared is the client's shared reads; nil without WithSharedReads.
func (c *Client) shared() *sharedReads {
	sr, _ := c.hc.Transport.(*sharedReads)
	return sr
}

// kept is the fresh kept answer of a GET of path (with its query) for
// role, if the client shares reads and keeps one.
func (c *Client) kept(role, path string) (*sharedAnswer, bool) {
	sr := c.shared()
	if sr == nil || role == "" {
		return nil, false
	}
	return sr.lookup(role, path)
}

// Generation counts the changes made through the client: an answer
// derived from reads made before it moved is out of date. ok is false
// without shared reads (WithSharedReads), where nothing counts them.
func (c *Client) Generation() (gen uint64, ok bool) {
	sr := c.shared()
	if sr == nil {
		return 0, false
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return sr.gen, true
}

// refused is the agent's refusal this answer holds (status not 2xx),
// decoded once; each caller gets a copy (its Fields shared).
func (a *sharedAnswer) refused() *api.Error {
	a.refusalOnce.Do(func() { a.refusal = answerError(a.status, a.body) })
	e := *a.refusal
	return &e
}

// decodeShared decodes the JSON of resp into out, once per kept answer:
// a later call for the same answer and type is given the value decoded
// then (shallowly copied: shared). ok is false when resp is not a shared
// answer.
func decodeShared(resp *http.Response, out any) (ok bool, err error) {
	sb, ok := resp.Body.(*sharedBody)
	if !ok {
		return false, nil
	}
	return true, sb.a.decode(out)
}

func newSharedReads(next http.RoundTripper, maxAge time.Duration, now func() time.Time) *sharedReads {
	s := &sharedReads{next: next, maxAge: maxAge, now: now, routes: http.NewServeMux(), answers: map[string]*sharedAnswer{}}
	for _, p := range api.SharedReads {
		s.routes.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	}
	return s
}

// CloseIdleConnections is the next round tripper's, for Client.Close.
func (s *sharedReads) CloseIdleConnections() {
	if c, ok := s.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (s *sharedReads) shared(req *http.Request) bool {
	if req.Method != http.MethodGet || req.Header.Get(api.HeaderRole) == "" {
		return false
	}
	_, pattern := s.routes.Handler(req)
	return pattern != ""
}

// RoundTrip implements http.RoundTripper.
func (s *sharedReads) RoundTrip(req *http.Request) (*http.Response, error) {
	if !s.shared(req) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			s.forget()
			defer s.forget() // and what was asked while it ran
		}
		return s.next.RoundTrip(req)
	}
	key := req.Header.Get(api.HeaderRole) + " " + req.URL.RequestURI()
	s.mu.Lock()
	for {
		a := s.answers[key]
		if a != nil && !isDone(a.done) {
			s.mu.Unlock()
			select {
			case <-a.done:
			case <-req.Context().Done():
				return nil, req.Context().Err()
			}
			if a.whole {
				return a.response(req)
			}
			s.mu.Lock()
			continue // too long to share: ask again
		}
		if a != nil && a.ok && s.fresh(a.at) {
			if !s.renewDue(a) {
				s.mu.Unlock()
				return a.response(req)
			}
			// This caller asks for the next answer; the others are given
			// this one meanwhile.
			a.renewing = true
			gen := s.gen
			s.mu.Unlock()
			return s.renew(req, key, a, gen)
		}
		// Ask the agent; others asking meanwhile wait for this answer.
		a = &sharedAnswer{done: make(chan struct{})}
		s.answers[key] = a
		gen := s.gen
		s.mu.Unlock()
		return s.ask(req, key, a, gen)
	}
}

func (s *sharedReads) fresh(at time.Time) bool {
	d := s.now().Sub(at)
	return d >= 0 && d < s.maxAge
}

// renewDue reports whether a fresh answer is in the last quarter of its
// time and nobody asks for its successor yet (s.mu held).
func (s *sharedReads) renewDue(a *sharedAnswer) bool {
	return !a.renewing && s.now().Sub(a.at) >= s.maxAge-s.maxAge/4
}

// renew asks the agent for the answer that replaces a, for req, and keeps
// it in a's place unless a change came meanwhile. When the agent cannot
// be asked, the caller is given a while it is fresh, and a later caller
// tries again.
func (s *sharedReads) renew(req *http.Request, key string, a *sharedAnswer, gen uint64) (*http.Response, error) {
	b := &sharedAnswer{done: make(chan struct{})}
	defer close(b.done)
	b.at = s.now()
	resp, err := s.next.RoundTrip(req)
	if err == nil {
		var body []byte
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxSharedBody+1))
		resp.Body.Close()
		if err == nil && len(body) > maxSharedBody {
			err = errors.New("answer too long to share")
		}
		b.status, b.header, b.body, b.whole = resp.StatusCode, resp.Header, body, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a.renewing = false
	if err != nil {
		if s.answers[key] == a && s.fresh(a.at) {
			return a.response(req)
		}
		return nil, err
	}
	if b.ok = s.gen == gen; b.ok && s.answers[key] == a {
		s.answers[key] = b
	}
	return b.response(req)
}

func (s *sharedReads) ask(req *http.Request, key string, a *sharedAnswer, gen uint64) (*http.Response, error) {
	defer close(a.done)
	a.at = s.now()
	resp, err := s.next.RoundTrip(req)
	if err != nil {
		// Waiters share the agent's failure, not this caller's leaving.
		a.err, a.whole = err, req.Context().Err() == nil
		s.drop(key, a)
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSharedBody+1))
	if err != nil || len(body) > maxSharedBody {
		s.drop(key, a)
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return resp, nil
	}
	resp.Body.Close()
	a.status, a.header, a.body, a.whole = resp.StatusCode, resp.Header, body, true
	s.mu.Lock()
	a.ok = s.gen == gen
	s.mu.Unlock()
	if !a.ok {
		s.drop(key, a)
	}
	return a.response(req)
}

// drop forgets an answer that is not to be shared; callers waiting for it
// ask again.
func (s *sharedReads) drop(key string, a *sharedAnswer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.answers[key] == a {
		delete(s.answers, key)
	}
}

// forget drops every kept answer: the agent's state may change.
func (s *sharedReads) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	clear(s.answers)
}

// response is a copy of the answer for req.
func (a *sharedAnswer) response(req *http.Request) (*http.Response, error) {
	if a.err != nil {
		return nil, a.err
	}
	h := a.header.Clone()
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	return &http.Response{
		Status: strconv.Itoa(a.status) + " " + http.StatusText(a.status), StatusCode: a.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: &sharedBody{bytes.NewReader(a.body), a}, ContentLength: int64(len(a.body)), Request: req,
	}, nil
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}
