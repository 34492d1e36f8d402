package change

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Errors of the engine.
var (
	// ErrPending is wrapped (by a *PendingError) when a change is refused
	// because another one waits for confirmation.
	ErrPending       = errors.New("another change is pending; confirm it or wait for its rollback")
	ErrUnknownChange = errors.New("no such change")
	ErrNotPending    = errors.New("change is not pending")
	// ErrKeepJournal, wrapped by an error of Module.Undo, says that nothing
	// was undone: the journal stays for the next Recover to try again.
	ErrKeepJournal = errors.New("undo not done; journal kept for the next start")
	errClosed      = errors.New("change engine closed")
)

// PendingError refuses a change while Change is pending; errors.Is(err,
// ErrPending) holds.
type PendingError struct {
	Change Change
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("%s change %s is pending until %s: confirm it or wait for its rollback",
		e.Change.Kind, e.Change.ID, e.Change.RollbackAt.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrPending) true.
func (e *PendingError) Is(target error) bool { return target == ErrPending }

// Status of a change.
const (
	StatusPending    = "pending"
	StatusConfirmed  = "confirmed"
	StatusRolledBack = "rolled_back"
)

// Why a change finished (Change.Reason).
const (
	ReasonConfirmed   = "confirmed"
	ReasonTimeout     = "not confirmed in time"
	ReasonApplyFailed = "applying it failed"
	ReasonRestart     = "the agent restarted with the change pending"
)

// Change is one change as the engine records it. Modules show it to
// their API in their own shape.
type Change struct {
	ID     string   `json:"change_id"`
	Kind   string   `json:"kind"`             // the module's
	Target string   `json:"target,omitempty"` // what it changes, e.g. an interface
	Fields []string `json:"fields,omitempty"` // the settings it changes
	// User began the change (WithUser); "" when nobody was named.
	User string `json:"user,omitempty"`
	// Changes says what the change does, field by field, old → new, in
	// words a page can show as they are (no secret: the module's choice).
	Changes    []FieldChange `json:"changes,omitempty"`
	Status     string        `json:"status"`
	CreatedAt  time.Time     `json:"created_at"`
	RollbackAt time.Time     `json:"rollback_at"`
	FinishedAt *time.Time    `json:"finished_at,omitempty"`
	Reason     string        `json:"reason,omitempty"` // why it finished
	Error      string        `json:"error,omitempty"`  // why an undo was incomplete
}

// FieldChange is one field of a change: its value before and after, as
// text ("" when it has none).
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// Bounds of what a change records, checked again when read back.
const (
	maxFieldChanges = 32
	maxValueLen     = 1024
	maxUserLen      = 128
)

type userKey struct{}

// WithUser names the user who acts in ctx: Begin records it as the
// change's User. The agent sets it from the request's actor.
func WithUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, userKey{}, user)
}

// UserFrom returns the user WithUser named in ctx, or "".
func UserFrom(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(string)
	return u
}

// Plan is a change a module asks for.
type Plan struct {
	Kind   string   // a registered module
	Target string   // optional
	Fields []string // optional
	// Changes says what the change does, field by field (optional; at
	// most 32, each value at most 1024 bytes of printable text).
	Changes []FieldChange
	// Undo is journaled (as JSON) before Apply runs; Module.Undo gets it
	// back to put things as they were, also after a crash.
	Undo any
	// Keep is journaled too; Module.Keep gets it on confirm.
	Keep any
	// Apply makes the change. When it fails, Module.Undo runs at once.
	Apply func(ctx context.Context) error
}

// Module is what the engine asks of the module that made a change.
type Module interface {
	// Check validates a journal read back from disk as the module's API
	// would validate a request; an error keeps Undo from ever seeing it.
	Check(ch Change, undo, keep json.RawMessage) error
	// Undo puts back what undo recorded: when the change is not
	// confirmed in time, when Apply failed, and at Recover.
	Undo(ctx context.Context, ch Change, undo json.RawMessage) error
	// Keep makes a confirmed change the state the module keeps (for
	// example the config it applies at start).
	Keep(ctx context.Context, ch Change, keep json.RawMessage) error
}

// Config configures an Engine.
type Config struct {
	Dir     string        // required: pending.json and changes.json
	Timeout time.Duration // required: how long a change waits for Confirm
	// OnFinish, if set, is called when a change is confirmed or rolled
	// back (timer, failed Apply, Recover), before Get shows it finished.
	// It runs with the engine locked and must not call it.
	OnFinish func(Change)
	// OnRejected, if set, is told of a file of Dir that failed validation
	// (named as "BASE(Dir)/FILE"); it was set aside and not used.
	OnRejected func(file, reason string)
	MaxChanges int              // changes kept in the log; 0: 100
	Now        func() time.Time // nil: time.Now
	// AfterFunc schedules f after d and returns a stop function; nil:
	// time.AfterFunc (which testing/synctest fakes).
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	Log       *slog.Logger // nil: discard
}

// Engine runs the device's changes, one pending at a time. It is safe for
// concurrent use.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	reject Rejecter

	op sync.Mutex // serialises Begin, Confirm, rollbacks and Recover

	mu      sync.Mutex // guards the fields below
	modules map[string]Module
	pending *journal
	stop    func() bool
	changes map[string]Change
	closed  bool
}

// journal is pending.json.
type journal struct {
	Change Change          `json:"change"`
	Undo   json.RawMessage `json:"undo,omitempty"`
	Keep   json.RawMessage `json:"keep,omitempty"`
}

const (
	pendingFile = "pending.json"
	changesFile = "changes.json"
)

// New checks cfg, makes Dir and loads the change log. Register the
// modules, then call Recover.
func New(cfg Config) (*Engine, error) {
	if cfg.Dir == "" {
		return nil, errors.New("change.New: Dir is required")
	}
	if cfg.Timeout <= 0 {
		return nil, errors.New("change.New: Timeout must be positive")
	}
	if cfg.MaxChanges <= 0 {
		cfg.MaxChanges = 100
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating change directory: %w", err)
	}
	e := &Engine{cfg: cfg, log: log, modules: map[string]Module{}, changes: map[string]Change{},
		reject: Rejecter{Dir: cfg.Dir, Prefix: filepath.Base(cfg.Dir) + "/", OnRejected: cfg.OnRejected, Now: cfg.Now, Log: log}}
	list, err := e.loadChanges()
	if err != nil {
		return nil, err
	}
	for _, ch := range list {
		e.changes[ch.ID] = ch
	}
	return e, nil
}

// loadChanges reads the change log; one that fails validation is set
// aside and the log starts empty.
func (e *Engine) loadChanges() ([]Change, error) {
	var list []Change
	_, err := ReadJSON(e.path(changesFile), &list)
	if err == nil {
		err = validChanges(list, e.cfg.MaxChanges)
	}
	if errors.Is(err, ErrInvalid) {
		e.reject.Reject(changesFile, err)
		return nil, nil
	}
	return list, err
}

var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Register makes m the module of kind. Register every module before
// Recover: a journal of a kind nobody registered is left alone.
func (e *Engine) Register(kind string, m Module) error {
	if !kindRE.MatchString(kind) || m == nil {
		return fmt.Errorf("registering change module %q: a lower-case name and a module are required", kind)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.modules[kind]; ok {
		return fmt.Errorf("registering change module %q: registered already", kind)
	}
	e.modules[kind] = m
	return nil
}

func (e *Engine) module(kind string) (Module, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.modules[kind]
	return m, ok
}

func (e *Engine) path(name string) string { return filepath.Join(e.cfg.Dir, name) }

// Get returns a change by id; ErrUnknownChange when the log has none.
func (e *Engine) Get(id string) (Change, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.changes[id]
	if !ok {
		return Change{}, fmt.Errorf("change %q: %w", Clip(id), ErrUnknownChange)
	}
	return ch, nil
}

// Pending returns the pending change, if any.
func (e *Engine) Pending() (Change, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pending == nil {
		return Change{}, false
	}
	return e.pending.Change, true
}

// Changes returns the logged changes, newest first.
func (e *Engine) Changes() []Change {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.listLocked()
}

func (e *Engine) listLocked() []Change {
	list := make([]Change, 0, len(e.changes))
	for _, ch := range e.changes {
		list = append(list, ch)
	}
	slices.SortFunc(list, func(a, b Change) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return list
}

// Close stops the rollback timer and refuses new changes; a pending change
// stays journaled and the next Recover rolls it back.
func (e *Engine) Close() {
	e.op.Lock()
	defer e.op.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stop != nil {
		e.stop()
		e.stop = nil
	}
	e.pending, e.closed = nil, true
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var fieldRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// validChange checks a change read back from disk: it looks as the engine
// writes them, so nothing odd reaches the API or the logs.
func validChange(ch Change) error {
	if len(ch.ID) != 16 || strings.Trim(ch.ID, "0123456789abcdef") != "" {
		return Invalidf("change ID %q is not 16 hex digits", Clip(ch.ID))
	}
	switch ch.Status {
	case StatusPending, StatusConfirmed, StatusRolledBack:
	default:
		return Invalidf("change %s: status %q is unknown", ch.ID, Clip(ch.Status))
	}
	if !kindRE.MatchString(ch.Kind) {
		return Invalidf("change %s: kind %q is not a module name", ch.ID, Clip(ch.Kind))
	}
	if len(ch.Target) > 64 || !printable(ch.Target) {
		return Invalidf("change %s: target %q is not a name", ch.ID, Clip(ch.Target))
	}
	if len(ch.Fields) > 32 {
		return Invalidf("change %s: %d fields", ch.ID, len(ch.Fields))
	}
	for _, f := range ch.Fields {
		if !fieldRE.MatchString(f) {
			return Invalidf("change %s: field %q is not a field name", ch.ID, Clip(f))
		}
	}
	if len(ch.User) > maxUserLen || !printable(ch.User) {
		return Invalidf("change %s: user %q is not a user name", ch.ID, Clip(ch.User))
	}
	if err := validFieldChanges(ch.Changes); err != nil {
		return Invalidf("change %s: %v", ch.ID, err)
	}
	if len(ch.Error) > 4096 || len(ch.Reason) > 256 || !utf8.ValidString(ch.Error) || !printable(ch.Reason) {
		return Invalidf("change %s: error or reason text too long or not text", ch.ID)
	}
	return nil
}

// validFieldChanges checks what a change says it does: the engine
// refuses to record more, and a log read back must hold no more.
func validFieldChanges(cs []FieldChange) error {
	if len(cs) > maxFieldChanges {
		return fmt.Errorf("%d field changes, at most %d", len(cs), maxFieldChanges)
	}
	for _, c := range cs {
		if !fieldRE.MatchString(c.Field) {
			return fmt.Errorf("field %q is not a field name", Clip(c.Field))
		}
		for _, v := range []string{c.Old, c.New} {
			if len(v) > maxValueLen || !printable(v) {
				return fmt.Errorf("a value of field %s is longer than %d bytes or not text", c.Field, maxValueLen)
			}
		}
	}
	return nil
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func validChanges(list []Change, limit int) error {
	if len(list) > 10*limit {
		return Invalidf("%d changes listed, at most %d kept", len(list), limit)
	}
	for _, ch := range list {
		if err := validChange(ch); err != nil {
			return err
		}
	}
	return nil
}

// GetOf returns change id when it is of kind: a module's view of the log
// (ErrUnknownChange for none, and for other modules' changes).
func (e *Engine) GetOf(kind, id string) (Change, error) {
	ch, err := e.Get(id)
	if err == nil && ch.Kind != kind {
		err = fmt.Errorf("%s change %q: %w", kind, Clip(id), ErrUnknownChange)
	}
	if err != nil {
		return Change{}, err
	}
	return ch, nil
}

// PendingOf returns the pending change, if it is of kind.
func (e *Engine) PendingOf(kind string) (Change, bool) {
	ch, ok := e.Pending()
	if !ok || ch.Kind != kind {
		return Change{}, false
	}
	return ch, true
}

// ConfirmOf confirms change id when it is of kind (ErrUnknownChange
// otherwise).
func (e *Engine) ConfirmOf(ctx context.Context, kind, id string) (Change, error) {
	if _, err := e.GetOf(kind, id); err != nil {
		return Change{}, err
	}
	return e.Confirm(ctx, id)
}
