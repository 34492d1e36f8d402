package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
)

// contentSecurityPolicy allows nothing inline: every script and style is a
// file under /static/.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// maxBodyBytes caps every request body; the console only takes small forms and JSON.
const maxBodyBytes = 64 << 10

// Session keys.
const (
	keyUserID    = "uid"
	keyEpoch     = "epoch"
	keyCreated   = "created"
	keySeen      = "seen"
	keyCSRF      = "csrf"
	keyFlashKind = "flash_kind"
	keyFlashText = "flash_text"
	keyResetRef  = "reset_ref" // an admin's reset's password, kept for one display (users.go)
)

type ctxKey int

// identityKey holds the caller (*identity) of a request whose session is
// loaded: nil for an anonymous one. Public routes (static files, health)
// have neither.
const identityKey ctxKey = iota

// me returns the caller, or nil for an anonymous request.
func me(r *http.Request) *identity {
	id, _ := r.Context().Value(identityKey).(*identity)
	return id
}

func hasSession(r *http.Request) bool {
	_, ok := r.Context().Value(identityKey).(*identity)
	return ok
}

// fixedHeader is a header set on every response of a kind, by its
// canonical name, without a slice made per request: the value is a slice
// of one, so a handler's Add makes a new one.
type fixedHeader struct {
	name  string
	value []string
}

// pageHeaders are the headers every answer but the API's carries.
var pageHeaders = [...]fixedHeader{
	{"Content-Security-Policy", []string{contentSecurityPolicy}},
	{"X-Frame-Options", []string{"DENY"}},
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"Referrer-Policy", []string{"no-referrer"}},
	{"Cross-Origin-Opener-Policy", []string{"same-origin"}},
	{"Permissions-Policy", []string{"camera=(), microphone=(), geolocation=()"}},
}

// apiHeaders are the headers every answer under /api/ carries: OWASP's set
// for REST answers (with HSTS and Cache-Control, set for both kinds). An
// answer that is never a document (JSON, a stream) has no use for the
// referrer, opener and permissions policies, and fewer headers are less
// work on every API request.
var apiHeaders = [...]fixedHeader{
	{"Content-Security-Policy", []string{"default-src 'none'; frame-ancestors 'none'"}},
	{"X-Frame-Options", []string{"DENY"}},
	{"X-Content-Type-Options", []string{"nosniff"}},
}

var (
	hstsValue    = []string{"max-age=63072000"}
	noStoreValue = []string{"no-store"}
)

// front is the console's handler: every request gets the headers every
// response carries and the body limit, a state-changing request a browser
// marks as cross-origin (Sec-Fetch-Site, or Origin not matching Host) is
// refused, and the rest go to mux. It is one function, not a chain, so that
// a request's stack stays small (see serveRoute).
func (s *Server) front(mux http.Handler) http.Handler {
	tlsOn := !s.cfg.Web.TLS.Disable
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.idle.Seen(time.Now())
		h := w.Header()
		fixed := pageHeaders[:]
		if isAPI(r) {
			fixed = apiHeaders[:]
		}
		for i := range fixed {
			h[fixed[i].name] = fixed[i].value
		}
		if tlsOn {
			h["Strict-Transport-Security"] = hstsValue
		}
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h["Cache-Control"] = noStoreValue
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, bodyLimit(r))
		}
		if err := cop.Check(r); err != nil {
			s.crossOriginRefused(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// crossOriginRefused answers a cross-origin change. (Not in front's
// function: its frame would be on every request's stack.)
func (s *Server) crossOriginRefused(w http.ResponseWriter, r *http.Request) {
	s.log.Warn("refused cross-origin request", "method", r.Method, "path", r.URL.Path,
		"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "source", s.clientAddr(r))
	s.errorPage(w, r, http.StatusForbidden, "Cross-origin request refused.")
}

// serveRoute serves a request for a route that is not public: it loads
// the session, finds the caller, applies the route's checks (the form
// token, sign-in, role), runs the handler, and stores the session if it
// changed, before anything of the answer is written (sessionWriter). This
// is scs's LoadAndSave with the caller found in the same step: one copy of
// the request and one context value per request, not three of each.
func (s *Server) serveRoute(rt *route, w http.ResponseWriter, r *http.Request) {
	var token string
	if c, err := r.Cookie(s.sessions.Cookie.Name); err == nil {
		token = c.Value
	}
	ctx, err := s.sessions.Load(r.Context(), token)
	if err != nil {
		s.sessions.ErrorFunc(w, r, err)
		return
	}
	id, err := s.authenticate(ctx, w, r)
	r = r.WithContext(context.WithValue(ctx, identityKey, id))
	sw := &sessionWriter{ResponseWriter: w, s: s, r: r}
	switch {
	case errors.Is(err, errBadToken):
		w.Header().Set("WWW-Authenticate", `Bearer realm="devmgr"`)
		writeError(sw, http.StatusUnauthorized, "invalid, expired or revoked API token", "")
	case err != nil:
		s.serverError(sw, r, err)
	case s.allowed(rt, sw, r):
		rt.handler(sw, r)
	}
	if !sw.written {
		s.commitSession(w, r)
	}
}

// allowed applies the checks of rt's access level to a request whose
// caller is known; when one refuses, it has answered.
func (s *Server) allowed(rt *route, w http.ResponseWriter, r *http.Request) bool {
	switch rt.access {
	case loginForm:
		return s.loginFormOK(w, r)
	case loggedIn:
		return s.csrfOK(w, r) && s.loggedInOK(w, r)
	case role:
		return s.csrfOK(w, r) && s.roleOK(rt.min, w, r)
	}
	return s.csrfOK(w, r)
}

// sessionWriter stores the request's session, when it changed, before
// the first byte of the answer, so the session cookie can go with it.
type sessionWriter struct {
	http.ResponseWriter
	s       *Server
	r       *http.Request
	written bool
}

func (sw *sessionWriter) commit() {
	if !sw.written {
		sw.written = true
		sw.s.commitSession(sw.ResponseWriter, sw.r)
	}
}

func (sw *sessionWriter) WriteHeader(code int) {
	sw.commit()
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *sessionWriter) Write(b []byte) (int, error) {
	sw.commit()
	return sw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines of streams).
func (sw *sessionWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// commitSession stores a changed session and sets its cookie, or clears
// the cookie of a destroyed one, as scs's LoadAndSave does.
func (s *Server) commitSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch s.sessions.Status(ctx) {
	case scs.Modified:
		token, expiry, err := s.sessions.Commit(ctx)
		if err != nil {
			s.sessions.ErrorFunc(w, r, err)
			return
		}
		s.sessions.WriteSessionCookie(ctx, w, token, expiry)
	case scs.Destroyed:
		s.sessions.WriteSessionCookie(ctx, w, "", time.Time{})
	}
}

// authenticate finds the caller, given the request's loaded session ctx:
// an API token on /api/ requests carrying Authorization (errBadToken when
// it does not sign anyone in), otherwise the session, whose remaining time
// it sets in w's header. A session that is idle or too old by the server's
// clock, whose user is gone, or whose user's session epoch moved on
// (password or role changed elsewhere) is ended.
func (s *Server) authenticate(ctx context.Context, w http.ResponseWriter, r *http.Request) (*identity, error) {
	if authz := r.Header.Get("Authorization"); authz != "" && isAPI(r) {
		return s.tokenIdentity(ctx, authz)
	}
	id, err := s.sessionIdentity(ctx, background(r))
	if id != nil {
		// The page's script offers "stay signed in" before this.
		w.Header()[headerSessionLeft] = []string{strconv.FormatInt(id.SessionEnds.Sub(s.now()).Milliseconds(), 10)}
	}
	return id, err
}

var errBadToken = errors.New("invalid API token")

func (s *Server) tokenIdentity(ctx context.Context, authz string) (*identity, error) {
	scheme, plain, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(plain) == "" {
		return nil, errBadToken
	}
	tok, err := s.db.TokenByHash(ctx, auth.HashToken(strings.TrimSpace(plain)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	if tok.Revoked || !tok.Role.Valid() {
		return nil, errBadToken
	}
	if now := s.now(); tokenStale(tok.LastUsedAt, now) {
		if err := s.db.TouchToken(ctx, tok.ID, now); err != nil {
			s.log.Error("recording API token use", "token", tok.Name, "err", err)
		}
	}
	return &identity{Name: "token:" + tok.Name, Role: tok.Role, Token: true}, nil
}

// tokenTouchInterval is how stale a token's recorded last use may get
// before a request records it again: a read writes nothing but once a
// minute per token, and the tokens list still shows the last use to the
// minute.
const tokenTouchInterval = time.Minute

// tokenStale reports whether a token last used at used (nil: never) is
// used again at now by the record. A clock set back records it too.
func tokenStale(used *time.Time, now time.Time) bool {
	if used == nil {
		return true
	}
	d := now.Sub(*used)
	return d >= tokenTouchInterval || d < 0
}

// Background requests are the page's own refreshes (htmx polls, the
// change tracker's probes): they never count as the user's activity, so an
// open page does not keep an idle session alive.
const headerBackground = "X-Devmgr-Background"

// headerSessionLeft carries, in every answer to a signed-in user, the
// milliseconds until the session ends unless the user acts (a duration:
// the browser's clock may differ from the device's).
const headerSessionLeft = "X-Devmgr-Session-Left"

func background(r *http.Request) bool { return r.Header.Get(headerBackground) == "1" }

// sessionIdentity is the signed-in user of the session, or nil. Only a
// request that is not in the background moves the idle timer.
func (s *Server) sessionIdentity(ctx context.Context, background bool) (*identity, error) {
	uid := s.sessions.GetInt64(ctx, keyUserID)
	if uid == 0 {
		return nil, nil
	}
	now := s.now()
	// Times are kept as Unix nanoseconds: gob would need time.Time registered.
	seen := time.Unix(0, s.sessions.GetInt64(ctx, keySeen))
	created := time.Unix(0, s.sessions.GetInt64(ctx, keyCreated))
	if now.Sub(seen) > s.cfg.Web.Session.IdleTimeout || now.Sub(created) > s.cfg.Web.Session.Lifetime {
		return nil, s.endSession(ctx, "Your session expired. Please sign in again.")
	}
	u, err := s.db.UserByID(ctx, uid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.endSession(ctx, "")
	}
	if err != nil {
		return nil, err
	}
	if u.SessionEpoch != s.sessions.GetInt64(ctx, keyEpoch) {
		return nil, s.endSession(ctx, "Your password or role changed. Please sign in again.")
	}
	// A clock set back moves keySeen too, as every request used to.
	if d := now.Sub(seen); !background && (d >= seenInterval(s.cfg.Web.Session.IdleTimeout) || d < 0) {
		s.sessions.Put(ctx, keySeen, now.UnixNano())
		seen = now
	}
	return &identity{UserID: u.ID, Name: u.Name, Role: u.Role, MustChange: u.MustChangePassword,
		SessionEnds: s.sessionEnds(seen, created)}, nil
}

// sessionEnds is when a session last seen at seen ends: idle after that,
// never after its lifetime.
func (s *Server) sessionEnds(seen, created time.Time) time.Time {
	ends := seen.Add(s.cfg.Web.Session.IdleTimeout)
	if life := created.Add(s.cfg.Web.Session.Lifetime); life.Before(ends) {
		return life
	}
	return ends
}

// endSession destroys the session, leaving a message for the login page.
func (s *Server) endSession(ctx context.Context, msg string) error {
	if err := s.sessions.Destroy(ctx); err != nil {
		return err
	}
	if msg != "" {
		s.sessions.Put(ctx, keyFlashKind, "warning")
		s.sessions.Put(ctx, keyFlashText, msg)
	}
	return nil
}

// csrfOK requires the session's form token (form field csrf_token or
// header X-CSRF-Token) on every state-changing request, except API requests
// authenticated by a Bearer token or by nothing at all.
func (s *Server) csrfOK(w http.ResponseWriter, r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	if id := me(r); isAPI(r) && (id == nil || id.Token) {
		// Bearer tokens are not ambient credentials, and an API request
		// without a signed-in session has no authority to abuse (the JSON
		// login needs application/json, which a cross-site form cannot send).
		return true
	}
	want := s.sessions.GetString(r.Context(), keyCSRF)
	got := r.Header.Get("X-CSRF-Token")
	if got == "" && !isMultipart(r) {
		// A multipart body (an upload) is read only once the caller
		// may: its form sends the token in the header.
		got = r.PostFormValue("csrf_token")
	}
	if want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1 {
		return true
	}
	s.log.Warn("refused request without a valid form token", "method", r.Method, "path", r.URL.Path, "source", s.clientAddr(r))
	if isAPI(r) {
		// A script with the session cookie: say what it lacks.
		writeError(w, http.StatusForbidden, "A change made with the session cookie needs the X-CSRF-Token header of the page "+
			"(or use an API token in the Authorization header).", "X-CSRF-Token")
		return false
	}
	s.errorPage(w, r, http.StatusForbidden, "The form has expired or did not come from this console. Reload the page and try again.")
	return false
}

func isMultipart(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return strings.HasPrefix(mt, "multipart/")
}

// loggedInOK lets only authenticated callers through, even those who
// still must change their password.
func (s *Server) loggedInOK(w http.ResponseWriter, r *http.Request) bool {
	if me(r) == nil {
		s.unauthenticated(w, r)
		return false
	}
	return true
}

// roleOK lets through callers with at least role min whose password
// needs no change.
func (s *Server) roleOK(min auth.Role, w http.ResponseWriter, r *http.Request) bool {
	id := me(r)
	switch {
	case id == nil:
		s.unauthenticated(w, r)
	case id.MustChange:
		if !isAPI(r) && r.Method == http.MethodGet && r.Header.Get("HX-Request") == "" {
			http.Redirect(w, r, "/account/password", http.StatusSeeOther)
			return false
		}
		s.errorPage(w, r, http.StatusForbidden, "You must change your password first.")
	case !id.Role.AtLeast(min):
		s.errorPage(w, r, http.StatusForbidden, "Your role ("+string(id.Role)+") may not do this; it needs "+string(min)+".")
	default:
		return true
	}
	return false
}

func (s *Server) unauthenticated(w http.ResponseWriter, r *http.Request) {
	switch {
	case isAPI(r):
		writeError(w, http.StatusUnauthorized, "authentication required", "")
	case r.Header.Get("HX-Request") != "" || r.Method != http.MethodGet:
		// htmx polling: app.js sends the page to /login on 401.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte("authentication required\n"))
	default:
		// Back to this page after signing in; a session cookie that no
		// longer signs anyone in means the session ended.
		q := url.Values{}
		if p := r.URL.RequestURI(); p != "/" {
			q.Set("next", p)
		}
		if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
			q.Set("expired", "1")
		}
		target := "/login"
		if len(q) > 0 {
			target += "?" + q.Encode()
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	}
}

// localPath returns p when it is a path of this console to return to
// after signing in, else "/": never another host ("//x", "/\\x",
// "https://x"), never the login page itself.
func localPath(p string) string {
	u, err := url.Parse(p)
	if err != nil || p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		u.Scheme != "" || u.Host != "" || u.Path == "/login" || strings.ContainsAny(p, "\r\n\\") {
		return "/"
	}
	return p
}

// csrfToken is the session's form token, or "" without a session.
func (s *Server) csrfToken(r *http.Request) string {
	if !hasSession(r) {
		return ""
	}
	return s.sessions.GetString(r.Context(), keyCSRF)
}

func newToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) setFlash(r *http.Request, kind, text string) {
	s.sessions.Put(r.Context(), keyFlashKind, kind)
	s.sessions.Put(r.Context(), keyFlashText, text)
}

func (s *Server) popFlash(r *http.Request) []flash {
	if !hasSession(r) {
		return nil
	}
	text := s.sessions.PopString(r.Context(), keyFlashText)
	kind := s.sessions.PopString(r.Context(), keyFlashKind)
	if text == "" {
		return nil
	}
	return []flash{{Kind: kind, Text: text}}
}

// clientAddr is the caller's address: the peer, or, behind nginx on a
// loopback plain-HTTP listener, the X-Real-IP nginx sets.
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if s.cfg.Web.TLS.Disable {
		if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
			if xr, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get("X-Real-IP"))); err == nil {
				return xr.String()
			}
		}
	}
	return host
}
