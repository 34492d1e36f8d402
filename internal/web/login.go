package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/devmgr/devmgr/internal/accounts"
	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
)

// Audit actions and results of signing in and out; those of users and
// tokens are accounts'.
const (
	actLogin  = "login"
	actLogout = "logout"

	resultOK        = accounts.ResultOK
	resultFail      = accounts.ResultFail
	resultThrottled = auditlog.ResultThrottled
)

var auditActions = []string{actLogin, actLogout, accounts.ActPasswordChange, accounts.ActUserAdd, accounts.ActUserRole,
	accounts.ActUserReset, accounts.ActUserDelete,
	// The agent's, by family (the filter matches a prefix).
	"network.", "ap.", "diag.", "command.", "agent.", "backup.", "system."}

// audit records one entry; a failure to record is logged, not shown.
func (s *Server) audit(r *http.Request, user, action, target, result, detail string) {
	if user == "" {
		if id := me(r); id != nil {
			user = id.Name
		}
	}
	e := store.AuditEntry{Time: s.now(), User: user, Source: s.clientAddr(r), Action: action, Target: target, Result: result, Detail: detail}
	if err := s.db.Audit(context.WithoutCancel(r.Context()), e); err != nil {
		s.log.Error("writing audit entry", "action", action, "user", user, "err", err)
	}
}

type loginData struct {
	Form         *form
	CSRF         string // the login form's token, also in LoginCSRFCookie
	FirstStart   bool
	PasswordFile string
	Next         string // the page to return to after signing in
	Expired      bool   // the session ended: say so
}

// loginPage shows the sign-in form. It stores nothing on the server: the
// form's token is a signed cookie (LoginCSRFCookie), not session data.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if me(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	f := &form{Values: map[string]string{"next": localPath(r.URL.Query().Get("next"))}, Errors: map[string]string{}}
	if r.URL.Query().Get("expired") != "" {
		f.Values["expired"] = "1"
	}
	s.renderLogin(w, r, http.StatusOK, f)
}

// renderLogin shows the sign-in form with a fresh form token.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, f *form) {
	_, err := os.Stat(s.accounts.InitialPasswordPath())
	tok := s.setLoginToken(w)
	s.render(w, r, status, "login", "Sign in", loginData{Form: f, CSRF: tok, FirstStart: err == nil, PasswordFile: s.accounts.InitialPasswordPath(),
		Next: f.Values["next"], Expired: f.Values["expired"] != ""})
}

// Errors of checkLogin.
var (
	errBadLogin  = errors.New("invalid username or password")
	errThrottled = errors.New("too many failed logins")
	errBusy      = errors.New("too many logins in progress")
)

const (
	badLoginMessage = "Invalid username or password."
	busyMessage     = "The console is busy. Try again in a few seconds."
)

// usernameTooLong is the message for a submitted username longer than any
// user's: refused before the throttle and the audit log see it.
var usernameTooLong = fmt.Sprintf("username: at most %d characters", auth.MaxUsernameLen)

// auditThrottled records a refused login attempt. All those of one source
// within a throttle window share one audit row, which counts them.
func (s *Server) auditThrottled(r *http.Request, action, user, target string) {
	if user == "" {
		if id := me(r); id != nil {
			user = id.Name
		}
	}
	now := s.now()
	e := store.AuditEntry{Time: now, User: user, Source: auth.SourceKey(s.clientAddr(r)), Action: action, Target: target,
		Result: resultThrottled, Detail: "throttled"}
	if err := s.db.AuditRepeat(context.WithoutCancel(r.Context()), e, now.Add(-auth.ThrottleWindow)); err != nil {
		s.log.Error("writing audit entry", "action", action, "user", user, "err", err)
	}
}

// checkLogin verifies name and password under the throttle. Unknown users
// cost the same hash verification as known ones and fail the same way.
// On errThrottled and errBusy, retry says when to try again. name must be
// at most auth.MaxUsernameLen long.
func (s *Server) checkLogin(r *http.Request, name, password string) (u store.User, retry time.Duration, err error) {
	ctx := r.Context()
	addr := s.clientAddr(r)
	dec, err := s.throttle.Check(ctx, name, addr)
	if err != nil {
		return u, 0, fmt.Errorf("checking login throttle: %w", err)
	}
	if dec.RetryAfter > 0 {
		s.auditThrottled(r, actLogin, name, name)
		return u, dec.RetryAfter, errThrottled
	}
	// The delay is waited out before taking a place in the hash queue:
	// waiting requests hold no worker and no lock.
	if dec.Delay > 0 {
		if err := s.sleep(ctx, dec.Delay); err != nil {
			return u, 0, fmt.Errorf("waiting out the login delay: %w", err)
		}
	}
	leave, ok := s.hashes.enter()
	if !ok {
		return u, hashBusyRetry, errBusy
	}
	defer leave()
	// Parallel guesses must not all pass the check before the first
	// failure is recorded. Always the user's lock first, then the source's.
	defer s.loginLocks.lock("user:" + strings.ToLower(name))()
	defer s.loginLocks.lock("source:" + auth.SourceKey(addr))()
	retry, err = s.throttle.Blocked(ctx, name, addr)
	if err != nil {
		return u, 0, fmt.Errorf("checking login throttle: %w", err)
	}
	if retry > 0 {
		s.auditThrottled(r, actLogin, name, name)
		return u, retry, errThrottled
	}
	u, err = s.db.UserByName(ctx, name)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return u, 0, fmt.Errorf("looking up user: %w", err)
	}
	var verified bool
	err = s.hashes.do(ctx, func() {
		if !known {
			s.verifyDummy(password)
			return
		}
		var err error
		if verified, err = s.verify(u.PasswordHash, password); err != nil {
			s.log.Error("verifying password", "user", name, "err", err)
			verified = false
		}
	})
	if err != nil {
		return store.User{}, 0, fmt.Errorf("waiting to verify the password: %w", err)
	}
	if !verified {
		if err := s.throttle.Failure(ctx, name, addr); err != nil {
			s.log.Error("recording login failure", "user", name, "err", err)
		}
		s.audit(r, name, actLogin, name, resultFail, "bad username or password")
		return store.User{}, 0, errBadLogin
	}
	if err := s.throttle.Success(ctx, name, addr); err != nil {
		s.log.Error("clearing login failures", "user", name, "err", err)
	}
	s.audit(r, name, actLogin, name, resultOK, "")
	return u, 0, nil
}

// startSession makes the session u's, under a fresh session token.
func (s *Server) startSession(r *http.Request, u store.User) error {
	ctx := r.Context()
	if err := s.sessions.RenewToken(ctx); err != nil {
		return fmt.Errorf("renewing session token: %w", err)
	}
	now := s.now()
	s.sessions.Put(ctx, keyUserID, u.ID)
	s.sessions.Put(ctx, keyEpoch, u.SessionEpoch)
	s.sessions.Put(ctx, keyCreated, now.UnixNano())
	s.sessions.Put(ctx, keySeen, now.UnixNano())
	s.sessions.Put(ctx, keyCSRF, newToken())
	return nil
}

// retryMessage is the readable form of a throttle's Retry-After.
func retryMessage(d time.Duration) string {
	m := int(math.Ceil(d.Minutes()))
	if d < time.Minute {
		return fmt.Sprintf("Too many failed sign-in attempts. Try again in %d seconds.", retrySeconds(d))
	}
	unit := "minutes"
	if m == 1 {
		unit = "minute"
	}
	return fmt.Sprintf("Too many failed sign-in attempts. Try again in %d %s.", m, unit)
}

func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	f := newForm(r, "username", "next")
	f.Values["next"] = localPath(f.Values["next"])
	name := strings.TrimSpace(f.Values["username"])
	f.Values["username"] = name
	password := r.PostFormValue("password")
	switch {
	case name == "":
		f.fail("username", "Enter your username.")
	case len(name) > auth.MaxUsernameLen:
		f.Values["username"] = ""
		f.fail("username", sentence(errors.New(usernameTooLong)))
	}
	if password == "" {
		f.fail("password", "Enter your password.")
	}
	if !f.ok() {
		s.renderLogin(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	u, retry, err := s.checkLogin(r, name, password)
	switch {
	case errors.Is(err, errThrottled):
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(retry)))
		f.Error = retryMessage(retry)
		s.renderLogin(w, r, http.StatusTooManyRequests, f)
		return
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(retry)))
		f.Error = busyMessage
		s.renderLogin(w, r, http.StatusServiceUnavailable, f)
		return
	case errors.Is(err, errBadLogin):
		f.Error = badLoginMessage
		s.renderLogin(w, r, http.StatusUnauthorized, f)
		return
	case err != nil && r.Context().Err() != nil:
		return // the client left while waiting: nobody to answer
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	if err := s.startSession(r, u); err != nil {
		s.serverError(w, r, err)
		return
	}
	clearLoginToken(w)
	if u.MustChangePassword {
		http.Redirect(w, r, "/account/password", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, f.Values["next"], http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	id := me(r)
	if id.Token {
		writeError(w, http.StatusBadRequest, "API tokens have no session to end", "")
		return
	}
	s.audit(r, id.Name, actLogout, id.Name, resultOK, "")
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.setFlash(r, "success", "You have signed out.")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// renewSession is "stay signed in": the user's answer to the page's offer
// before the idle timeout. It moves the idle timer now (a request that is
// not in the background only moves it once a minute) and answers when the
// session ends now (header X-Devmgr-Session-Left).
func (s *Server) renewSession(w http.ResponseWriter, r *http.Request) {
	id := me(r)
	if id.Token {
		writeError(w, http.StatusBadRequest, "API tokens have no session to renew", "")
		return
	}
	now := s.now()
	s.sessions.Put(r.Context(), keySeen, now.UnixNano())
	ends := s.sessionEnds(now, time.Unix(0, s.sessions.GetInt64(r.Context(), keyCreated)))
	w.Header().Set(headerSessionLeft, strconv.FormatInt(ends.Sub(now).Milliseconds(), 10))
	w.WriteHeader(http.StatusNoContent)
}

type passwordData struct{ Form *form }

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request) {
	if me(r).Token {
		s.errorPage(w, r, http.StatusForbidden, "API tokens have no password.")
		return
	}
	s.render(w, r, http.StatusOK, "password", "Change password", passwordData{Form: newForm(r)})
}

func (s *Server) passwordSubmit(w http.ResponseWriter, r *http.Request) {
	id := me(r)
	if id.Token {
		s.errorPage(w, r, http.StatusForbidden, "API tokens have no password.")
		return
	}
	ctx := r.Context()
	f := newForm(r)
	current, next, confirm := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("confirm")
	u, err := s.db.UserByID(ctx, id.UserID)
	if err != nil {
		s.serverError(w, r, fmt.Errorf("loading user %d: %w", id.UserID, err))
		return
	}
	problem, retry, err := s.checkOwnPassword(r, u, current, accounts.ActPasswordChange)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(retry)))
		f.fail("current", problem)
		s.render(w, r, http.StatusTooManyRequests, "password", "Change password", passwordData{Form: f})
		return
	}
	if problem != "" {
		f.fail("current", problem)
	}
	if err := accounts.CheckPasswordChange(current, next, confirm); err != nil {
		failAll(f, err)
	}
	if !f.ok() {
		s.accounts.ChangeRejected(ctx, s.accountActor(r), id.Name)
		s.render(w, r, http.StatusUnprocessableEntity, "password", "Change password", passwordData{Form: f})
		return
	}
	u, err = s.accounts.ChangePassword(ctx, s.accountActor(r), u, next)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	// The epoch moved, which ends the user's other sessions; this one
	// follows it under a new token.
	if err := s.sessions.RenewToken(ctx); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.sessions.Put(ctx, keyEpoch, u.SessionEpoch)
	s.setFlash(r, "success", "Your password has been changed. Other sessions of yours have been signed out.")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// checkOwnPassword checks that password is u's own, typed again to change
// it, to restore a backup or to reset the device. Guesses count against the login throttle (a
// borrowed session must not be a way around it), each failure is
// recorded, and a throttled attempt is audited as action. It returns what
// to say beside the password's field ("" when it is right) and, while the
// throttle holds, when to try again.
func (s *Server) checkOwnPassword(r *http.Request, u store.User, password, action string) (problem string, retry time.Duration, err error) {
	ctx := r.Context()
	src := s.clientAddr(r)
	defer s.loginLocks.lock("user:" + strings.ToLower(u.Name))()
	defer s.loginLocks.lock("source:" + auth.SourceKey(src))()
	retry, err = s.throttle.Blocked(ctx, u.Name, src)
	switch {
	case err != nil:
		return "", 0, err
	case retry > 0:
		s.auditThrottled(r, action, "", u.Name)
		return retryMessage(retry), retry, nil
	case password == "":
		return "Enter your current password.", 0, nil
	}
	if ok, err := s.verify(u.PasswordHash, password); err != nil || !ok {
		if err := s.throttle.Failure(ctx, u.Name, src); err != nil {
			s.log.Error("recording password failure", "user", u.Name, "err", err)
		}
		return "This is not your current password.", 0, nil
	}
	return "", 0, nil
}

// sentence makes an error message from auth readable on a form.
func sentence(err error) string {
	msg := err.Error()
	if msg == "" {
		return msg
	}
	msg = strings.ToUpper(msg[:1]) + msg[1:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// keyedLocks is a mutex per key, kept only while someone holds or waits
// for it. The zero value is ready to use.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns its unlock.
func (k *keyedLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyedLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
