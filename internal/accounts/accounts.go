// Package accounts holds the console's user and token use cases, for the
// web console and the CLI alike: the checks, the hashing, the store
// change, the audit entry and the generated first admin password file.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"github.com/devmgr/devmgr/internal/auditlog"
	"log/slog"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
)

// Audit actions of the use cases.
const (
	ActUserAdd        = "user.add"
	ActUserRole       = "user.role"
	ActUserReset      = "user.reset"  // an admin gave the user a generated password
	ActUserPasswd     = "user.passwd" // the CLI set the user's password
	ActUserUnlock     = "user.unlock" // the CLI cleared the user's failed logins
	ActUserDelete     = "user.delete" //
	ActPasswordChange = "password.change"
	ActTokenCreate    = "token.create"
	ActTokenRevoke    = "token.revoke"
)

// Audit results.
const (
	ResultOK   = "ok"
	ResultFail = auditlog.ResultFailed
)

// Errors the use cases wrap; their messages name the user or token.
var (
	ErrExists   = store.ErrExists
	ErrNotFound = store.ErrNotFound
	// ErrLastAdmin refuses to demote or delete the only admin.
	ErrLastAdmin = store.ErrLastAdmin
	// ErrSelf refuses an admin's action on its own account that would
	// lock it out or bypass the password change.
	ErrSelf = errors.New("not on your own account")
	// ErrMismatch is a confirmation that differs from the password.
	ErrMismatch = errors.New("the passwords do not match")
)

// Actor is who acts, as the audit log records it. UserID is the acting
// user's id, 0 for the CLI.
type Actor struct {
	User, Source string
	UserID       int64
}

// CLI is the actor of the devmgr user and token commands, which work on
// the database directly (installation scripts, recovery).
var CLI = Actor{User: "cli", Source: "local"}

// Config is what New needs.
type Config struct {
	DB  *store.DB
	Log *slog.Logger
	// DataDir holds the first admin password file (InitialPasswordFile).
	DataDir string
	// Clock stamps audit entries and drives the throttle; nil: time.Now.
	Clock func() time.Time
}

// Service runs the use cases on one database.
type Service struct {
	db       *store.DB
	log      *slog.Logger
	dataDir  string
	now      func() time.Time
	throttle *auth.Throttle
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.DB == nil:
		return nil, errors.New("accounts: Config.DB is required")
	case cfg.Log == nil:
		return nil, errors.New("accounts: Config.Log is required")
	case cfg.DataDir == "":
		return nil, errors.New("accounts: Config.DataDir is required")
	}
	now := cfg.Clock
	if now == nil {
		now = time.Now
	}
	return &Service{db: cfg.DB, log: cfg.Log, dataDir: cfg.DataDir, now: now, throttle: auth.NewThrottle(cfg.DB, now)}, nil
}

// Problem is one bad field of a request.
type Problem struct {
	Field string
	Err   error
}

// Invalid is every problem of a request, in the order of its fields, so
// that a form can mark them all at once.
type Invalid struct{ Problems []Problem }

// Error is the first problem: what a command line reports.
func (e *Invalid) Error() string { return e.Problems[0].Err.Error() }

// Unwrap gives errors.Is and errors.As every problem.
func (e *Invalid) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p.Err
	}
	return errs
}

// detail is every problem, for the audit log.
func (e *Invalid) detail() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Err.Error()
	}
	return strings.Join(parts, "; ")
}

// problems collects an Invalid.
type problems []Problem

func (ps *problems) add(field string, err error) {
	if err != nil {
		*ps = append(*ps, Problem{Field: field, Err: err})
	}
}

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &Invalid{Problems: ps}
}

// Audit records what a on target came to: err nil is ok, else a failure
// with err as detail, okDetail the detail of a success. The change has
// happened (or not) already, so a failure to record is logged only.
func (s *Service) Audit(ctx context.Context, a Actor, action, target string, err error, okDetail string) {
	e := store.AuditEntry{Time: s.now(), User: a.User, Source: a.Source, Action: action, Target: target, Result: ResultOK, Detail: okDetail}
	if err != nil {
		e.Result, e.Detail = ResultFail, err.Error()
		if inv := (*Invalid)(nil); errors.As(err, &inv) {
			e.Detail = inv.detail()
		}
	}
	if aerr := s.db.Audit(context.WithoutCancel(ctx), e); aerr != nil {
		s.log.Error("writing audit entry", "action", action, "user", a.User, "target", target, "err", aerr)
	}
}

// unlock forgets name's failed logins: after a password change they were
// guesses of a password that no longer works.
func (s *Service) unlock(ctx context.Context, name string) {
	if err := s.throttle.Unlock(ctx, name); err != nil {
		s.log.Error("clearing login failures; run devmgr user unlock", "user", name, "err", err)
	}
}

// hash hashes a checked password.
func hash(pw string) (string, error) {
	h, err := auth.HashPassword(pw)
	if err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	return h, nil
}

// sentinelError has a message of its own and matches a sentinel
// (errors.Is) without repeating the sentinel's text.
type sentinelError struct {
	msg      string
	sentinel error
}

func (e *sentinelError) Error() string { return e.msg }
func (e *sentinelError) Unwrap() error { return e.sentinel }

func errorf(sentinel error, format string, args ...any) error {
	return &sentinelError{msg: fmt.Sprintf(format, args...), sentinel: sentinel}
}
