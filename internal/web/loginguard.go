package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"time"
)

// What anonymous requests may cost: the login form stores nothing on the
// server, and the password hashes of login attempts wait in a bounded
// queue.

// LoginCSRFCookie holds the login form's token. The form has no session to
// keep its CSRF token in (an anonymous GET /login must not store a row),
// so the token is a signed double submit: the same HMAC-signed value in
// this cookie and in the form's csrf_token field. The signing key is made
// per process: a restart expires the open login forms.
const LoginCSRFCookie = "__Host-login_csrf"

// loginFormLifetime is how long a login form may stay open.
const loginFormLifetime = 2 * time.Hour

// A login token is nonce (12 bytes) | expiry (uint32 Unix seconds) | HMAC
// of both, truncated to 16 bytes: 32 bytes, 43 characters base64url.
const (
	loginNonceLen = 12
	loginMACLen   = 16
	loginTokenLen = loginNonceLen + 4 + loginMACLen
)

func newLoginKey() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails (crypto/rand panics instead)
	return k
}

func (s *Server) loginMAC(msg []byte) []byte {
	m := hmac.New(sha256.New, s.loginKey)
	m.Write(msg)
	return m.Sum(nil)[:loginMACLen]
}

// newLoginToken returns a fresh login form token valid until
// loginFormLifetime from now.
func (s *Server) newLoginToken() string {
	b := make([]byte, loginNonceLen+4, loginTokenLen)
	rand.Read(b[:loginNonceLen])
	binary.BigEndian.PutUint32(b[loginNonceLen:], uint32(s.now().Add(loginFormLifetime).Unix()))
	b = append(b, s.loginMAC(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validLoginToken reports whether tok is a token of this process that has
// not expired.
func (s *Server) validLoginToken(tok string) bool {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != loginTokenLen {
		return false
	}
	msg, mac := b[:loginNonceLen+4], b[loginNonceLen+4:]
	if !hmac.Equal(mac, s.loginMAC(msg)) {
		return false
	}
	expiry := time.Unix(int64(binary.BigEndian.Uint32(msg[loginNonceLen:])), 0)
	return s.now().Before(expiry)
}

// setLoginToken gives the response a fresh login token cookie and returns
// the token for the form.
func (s *Server) setLoginToken(w http.ResponseWriter) string {
	tok := s.newLoginToken()
	http.SetCookie(w, &http.Cookie{
		Name: LoginCSRFCookie, Value: tok, Path: "/",
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	return tok
}

// clearLoginToken removes the login token cookie after a login.
func clearLoginToken(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: LoginCSRFCookie, Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// formExpired is the login form's message for a missing or bad token.
const formExpired = "The sign-in form expired. Try again."

// loginFormOK guards the login form: cross-origin requests are already
// refused (front, by Origin and Sec-Fetch-Site); here the form's
// csrf_token must equal the login token cookie and carry this process's
// valid signature. A refusal shows a fresh form.
func (s *Server) loginFormOK(w http.ResponseWriter, r *http.Request) bool {
	if !parseForm(w, r, s) {
		return false
	}
	got := r.PostFormValue("csrf_token")
	c, err := r.Cookie(LoginCSRFCookie)
	if err != nil || got == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(got)) != 1 || !s.validLoginToken(got) {
		s.log.Warn("refused login form without a valid form token", "source", s.clientAddr(r))
		f := &form{Values: map[string]string{}, Errors: map[string]string{}, Error: formExpired}
		s.renderLogin(w, r, http.StatusForbidden, f)
		return false
	}
	return true
}

// parseForm parses a POSTed form within the body limit; on failure it
// answers (413 for a body over maxBodyBytes) and reports false.
func parseForm(w http.ResponseWriter, r *http.Request, s *Server) bool {
	err := r.ParseForm()
	if err == nil {
		return true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		s.errorPage(w, r, http.StatusRequestEntityTooLarge, "The form is too large.")
		return false
	}
	s.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
	return false
}

// hashQueue bounds the password verifications of anonymous requests: at
// most cap(run) at once and cap(admit)-cap(run) more waiting. A flood past
// that is told to come back later instead of queueing without bound.
type hashQueue struct {
	admit chan struct{}
	run   chan struct{}
}

// Sizes of the login hash queue and the Retry-After of a full one.
const (
	hashQueueDepth = 32
	hashBusyRetry  = 2 * time.Second
)

func newHashQueue(workers, depth int) *hashQueue {
	return &hashQueue{admit: make(chan struct{}, workers+depth), run: make(chan struct{}, workers)}
}

// enter takes a place in the queue, or reports false when it is full.
// leave gives the place back.
func (q *hashQueue) enter() (leave func(), ok bool) {
	select {
	case q.admit <- struct{}{}:
		return func() { <-q.admit }, true
	default:
		return nil, false
	}
}

// do runs fn once a worker is free, unless ctx ends first.
func (q *hashQueue) do(ctx context.Context, fn func()) error {
	select {
	case q.run <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-q.run }()
	fn()
	return nil
}

// sleepCtx waits d, or less if ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
