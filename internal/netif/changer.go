package netif

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/google/renameio/v2"
)

// Errors of the Changer.
var (
	ErrPending       = errors.New("another change is pending; confirm it or wait for its rollback")
	ErrUnknownChange = errors.New("no such change")
	ErrNoDHCP        = errors.New("no DHCP client available")
	ErrNotPending    = errors.New("change is not pending")
)

// Status of a change.
const (
	StatusPending    = "pending"
	StatusConfirmed  = "confirmed"
	StatusRolledBack = "rolled_back"
)

// DHCPController runs the DHCP client of LAN interfaces; dhcp.Manager
// implements it. Both calls are idempotent and must not block for a lease.
type DHCPController interface {
	// Start runs a DHCP client on the link (no-op when one runs).
	Start(ctx context.Context, name string) error
	// Stop ends the client, releasing its lease and removing what it
	// applied when release is true (no-op when none runs).
	Stop(ctx context.Context, name string, release bool) error
}

// Config configures a Changer.
type Config struct {
	Handle    *Handle       // required: the namespace whose links change
	AppConfig config.Config // ap.interface and lan, for policy and validation
	// JournalDir holds pending.json, desired.json and changes.json;
	// default AppConfig.Agent.StateDir/network. What is read back from it
	// is validated again (replay.go).
	JournalDir string
	// OnRejected, if set, is told of a journal file that failed
	// validation; it was set aside and not applied.
	OnRejected func(file, reason string)
	Timeout    time.Duration  // rollback timeout; 0: AppConfig.Network.RollbackTimeout
	DHCP       DHCPController // nil: mode dhcp is refused
	Log        *slog.Logger   // nil: discard
	Now        func() time.Time
	// AfterFunc schedules f after d and returns a stop function; nil: time.AfterFunc.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// OnApplied, when set, is given the LAN configs in force (the
	// confirmed ones, and a pending change's in place of its interface's)
	// each time they may have changed: after a change is applied or rolled
	// back, and after ApplyDesired. It runs with the Changer locked and
	// must not call it (the agent writes the LAN DNS servers from it).
	OnApplied func(applied map[string]LinkConfig)
}

// Change is one applied change as the API shows it.
type Change struct {
	ID         string     `json:"change_id"`
	Interface  string     `json:"interface"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	RollbackAt time.Time  `json:"rollback_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Error      string     `json:"error,omitempty"` // why a rollback was incomplete
}

type journal struct {
	Change     Change      `json:"change"`
	Prev       State       `json:"prev"`
	PrevConfig *LinkConfig `json:"prev_config,omitempty"`
	NewConfig  *LinkConfig `json:"new_config,omitempty"`
}

// Changer applies LAN changes as transactions that roll back unless
// confirmed in time, one at a time, surviving crashes through a journal.
type Changer struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	pending *journal
	stop    func() bool
	changes map[string]Change
	desired map[string]LinkConfig
}

// NewChanger checks cfg and loads the saved desired state and change log.
// Call Recover, then ApplyDesired, at start.
func NewChanger(cfg Config) (*Changer, error) {
	if cfg.Handle == nil {
		return nil, errors.New("netif.NewChanger: Handle is required")
	}
	if cfg.JournalDir == "" {
		if cfg.AppConfig.Agent.StateDir == "" {
			return nil, errors.New("netif.NewChanger: JournalDir or AppConfig.Agent.StateDir is required")
		}
		cfg.JournalDir = filepath.Join(cfg.AppConfig.Agent.StateDir, "network")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = cfg.AppConfig.Network.RollbackTimeout
	}
	if cfg.Timeout <= 0 {
		return nil, errors.New("netif.NewChanger: Timeout must be positive")
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
	if err := os.MkdirAll(cfg.JournalDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating journal directory: %w", err)
	}
	c := &Changer{cfg: cfg, log: log, changes: map[string]Change{}, desired: map[string]LinkConfig{}}
	err := c.readJSON("desired.json", &c.desired)
	if err == nil {
		err = c.validDesired(c.desired)
	}
	if errors.Is(err, errInvalid) {
		c.reject("desired.json", err)
		c.desired, err = map[string]LinkConfig{}, nil
	}
	if err != nil {
		return nil, err
	}
	var list []Change
	err = c.readJSON("changes.json", &list)
	if err == nil {
		err = validChanges(list)
	}
	if errors.Is(err, errInvalid) {
		c.reject("changes.json", err)
		list, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, ch := range list {
		c.changes[ch.ID] = ch
	}
	return c, nil
}

func (c *Changer) path(name string) string { return filepath.Join(c.cfg.JournalDir, name) }

func (c *Changer) readJSON(name string, v any) error {
	_, err := readJSONFile(c.path(name), v)
	return err
}

func (c *Changer) writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	if err := renameio.WriteFile(c.path(name), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", c.path(name), err)
	}
	return nil
}

// Desired returns the confirmed config of a LAN interface.
func (c *Changer) Desired(name string) (LinkConfig, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lc, ok := c.desired[name]
	return lc, ok
}

// Get returns a change by id (ErrUnknownChange when there is none).
func (c *Changer) Get(id string) (Change, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.changes[id]
	if !ok {
		return Change{}, fmt.Errorf("change %q: %w", id, ErrUnknownChange)
	}
	return ch, nil
}

// Changes returns the recorded changes, newest first (at most 100).
func (c *Changer) Changes() []Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := make([]Change, 0, len(c.changes))
	for _, x := range c.changes {
		list = append(list, x)
	}
	sort.Slice(list, func(a, b int) bool { return list[a].CreatedAt.After(list[b].CreatedAt) })
	return list
}

// Pending returns the pending change, if any.
func (c *Changer) Pending() (Change, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return Change{}, false
	}
	return c.pending.Change, true
}

// SetConfig validates lc and applies it to LAN interface name as a change.
func (c *Changer) SetConfig(ctx context.Context, name string, lc LinkConfig) (Change, error) {
	cur, err := c.cfg.Handle.List(ctx)
	if err != nil {
		return Change{}, err
	}
	if err := Validate(c.cfg.AppConfig, name, lc, cur); err != nil {
		return Change{}, err
	}
	if lc.Mode == ModeDHCP && c.cfg.DHCP == nil {
		return Change{}, &FieldError{Field: "mode", Message: ErrNoDHCP.Error()}
	}
	return c.begin(ctx, name, &lc, func(ctx context.Context) error { return c.applyConfig(ctx, name, lc, false) })
}

// SetUp sets a LAN interface administratively up or down as a change.
func (c *Changer) SetUp(ctx context.Context, name string, up bool) (Change, error) {
	cur, err := c.cfg.Handle.List(ctx)
	if err != nil {
		return Change{}, err
	}
	if err := ValidateUp(c.cfg.AppConfig, name, cur); err != nil {
		return Change{}, err
	}
	c.mu.Lock()
	lc := c.desired[name]
	c.mu.Unlock()
	lc.Up = &up
	return c.begin(ctx, name, &lc, func(ctx context.Context) error {
		st, err := c.cfg.Handle.Snapshot(ctx, name)
		if err != nil {
			return err
		}
		st.AdminUp = up
		return c.cfg.Handle.Apply(ctx, name, st)
	})
}

// Begin applies a change to link name with apply, after journaling the
// link's state; unless Confirm(id) comes within the timeout, the state
// is restored exactly. The desired config is not changed.
func (c *Changer) Begin(ctx context.Context, name string, apply func(ctx context.Context) error) (Change, error) {
	return c.begin(ctx, name, nil, apply)
}

func (c *Changer) begin(ctx context.Context, name string, newCfg *LinkConfig, apply func(ctx context.Context) error) (Change, error) {
	if name == c.cfg.AppConfig.AP.Interface {
		return Change{}, protectedErr(name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending != nil {
		return Change{}, fmt.Errorf("%w (%s on %s)", ErrPending, c.pending.Change.ID, c.pending.Change.Interface)
	}
	prev, err := c.cfg.Handle.Snapshot(ctx, name)
	if err != nil {
		return Change{}, err
	}
	now := c.cfg.Now()
	j := &journal{
		Change: Change{ID: newID(), Interface: name, Status: StatusPending, CreatedAt: now, RollbackAt: now.Add(c.cfg.Timeout)},
		Prev:   prev, NewConfig: newCfg,
	}
	if pc, ok := c.desired[name]; ok {
		j.PrevConfig = &pc
	}
	if err := c.writeJSON("pending.json", j); err != nil {
		return Change{}, err
	}
	c.pending = j
	c.changes[j.Change.ID] = j.Change
	c.log.Info("applying network change", "id", j.Change.ID, "interface", name, "rollback_at", j.Change.RollbackAt)
	if err := apply(ctx); err != nil {
		c.rollbackLocked(context.WithoutCancel(ctx), "apply failed")
		return Change{}, fmt.Errorf("applying change to %s (rolled back): %w", name, err)
	}
	c.notifyLocked()
	id := j.Change.ID
	c.stop = c.cfg.AfterFunc(c.cfg.Timeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.pending != nil && c.pending.Change.ID == id {
			c.rollbackLocked(context.Background(), "not confirmed in time")
		}
	})
	return j.Change, nil
}

// Confirm keeps a pending change and makes its config the desired one.
func (c *Changer) Confirm(id string) (Change, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.changes[id]
	if !ok {
		return Change{}, fmt.Errorf("change %q: %w", id, ErrUnknownChange)
	}
	if c.pending == nil || c.pending.Change.ID != id {
		return ch, fmt.Errorf("change %s is %s: %w", id, ch.Status, ErrNotPending)
	}
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
	j := c.pending
	if j.NewConfig != nil {
		c.desired[j.Change.Interface] = *j.NewConfig
		if err := c.writeJSON("desired.json", c.desired); err != nil {
			return ch, err
		}
	}
	now := c.cfg.Now()
	ch.Status, ch.FinishedAt = StatusConfirmed, &now
	c.finishLocked(ch)
	c.log.Info("network change confirmed", "id", id, "interface", ch.Interface)
	return ch, nil
}

// finishLocked records ch and drops the journal.
func (c *Changer) finishLocked(ch Change) {
	c.changes[ch.ID] = ch
	c.pending = nil
	if err := os.Remove(c.path("pending.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Error("removing journal", "err", err)
	}
	list := make([]Change, 0, len(c.changes))
	for _, x := range c.changes {
		list = append(list, x)
	}
	sort.Slice(list, func(a, b int) bool { return list[a].CreatedAt.After(list[b].CreatedAt) })
	if len(list) > 100 {
		for _, x := range list[100:] {
			delete(c.changes, x.ID)
		}
		list = list[:100]
	}
	if err := c.writeJSON("changes.json", list); err != nil {
		c.log.Error("saving change log", "err", err)
	}
}

func (c *Changer) rollbackLocked(ctx context.Context, why string) {
	j := c.pending
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
	ch := j.Change
	c.log.Warn("rolling back network change", "id", ch.ID, "interface", ch.Interface, "reason", why)
	if err := c.restore(ctx, j); err != nil {
		c.log.Error("rolling back network change", "id", ch.ID, "err", err)
		ch.Error = err.Error()
	}
	now := c.cfg.Now()
	ch.Status, ch.FinishedAt = StatusRolledBack, &now
	c.finishLocked(ch)
	c.notifyLocked()
}

// notifyLocked gives OnApplied the configs in force.
func (c *Changer) notifyLocked() {
	if c.cfg.OnApplied == nil {
		return
	}
	applied := make(map[string]LinkConfig, len(c.desired)+1)
	for k, v := range c.desired {
		applied[k] = v
	}
	if j := c.pending; j != nil && j.NewConfig != nil {
		applied[j.Change.Interface] = *j.NewConfig
	}
	c.cfg.OnApplied(applied)
}

// restore puts the link and its DHCP client back as the journal recorded.
func (c *Changer) restore(ctx context.Context, j *journal) error {
	name := j.Change.Interface
	var errs []error
	wasDHCP := j.PrevConfig != nil && j.PrevConfig.Mode == ModeDHCP
	if c.cfg.DHCP != nil && !wasDHCP {
		if err := c.cfg.DHCP.Stop(ctx, name, true); err != nil {
			errs = append(errs, fmt.Errorf("stopping DHCP on %s: %w", name, err))
		}
	}
	if err := c.cfg.Handle.Apply(ctx, name, j.Prev); err != nil {
		errs = append(errs, fmt.Errorf("restoring %s: %w", name, err))
	}
	if wasDHCP && c.cfg.DHCP != nil {
		if err := c.cfg.DHCP.Start(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("restarting DHCP on %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Recover rolls back a change that a crash left pending. Call it once at
// start, before ApplyDesired. A journal that fails validation is set
// aside, reported through OnRejected and returned as an error; nothing of
// it is applied.
func (c *Changer) Recover(ctx context.Context) error {
	var j journal
	ok, err := readJSONFile(c.path("pending.json"), &j)
	if err == nil && ok {
		err = c.validJournal(&j)
	}
	if errors.Is(err, errInvalid) {
		c.reject("pending.json", err)
		return fmt.Errorf("network journal set aside: %w", err)
	}
	if err != nil || !ok {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = &j
	c.changes[j.Change.ID] = j.Change
	c.rollbackLocked(ctx, "agent restarted with the change pending")
	if ch := c.changes[j.Change.ID]; ch.Error != "" {
		return fmt.Errorf("recovering change %s: %s", ch.ID, ch.Error)
	}
	return nil
}

// ApplyDesired applies every confirmed LAN config again (at start);
// applying an already applied config changes nothing.
func (c *Changer) ApplyDesired(ctx context.Context) error {
	c.mu.Lock()
	desired := make(map[string]LinkConfig, len(c.desired))
	for k, v := range c.desired {
		desired[k] = v
	}
	c.mu.Unlock()
	var errs []error
	for name, lc := range desired {
		if name == c.cfg.AppConfig.AP.Interface {
			continue
		}
		if err := c.applyConfig(ctx, name, lc, true); err != nil {
			errs = append(errs, err)
		}
	}
	c.mu.Lock()
	c.notifyLocked()
	c.mu.Unlock()
	return errors.Join(errs...)
}

// applyConfig applies lc to the link and starts or stops its DHCP client.
// keepLease leaves the addresses of a DHCP link alone (at start, the
// client takes over what it finds).
func (c *Changer) applyConfig(ctx context.Context, name string, lc LinkConfig, keepLease bool) error {
	h := c.cfg.Handle
	switch lc.Mode {
	case ModeStatic:
		if c.cfg.DHCP != nil {
			if err := c.cfg.DHCP.Stop(ctx, name, true); err != nil {
				return fmt.Errorf("stopping DHCP on %s: %w", name, err)
			}
		}
		return h.ApplyConfig(ctx, name, lc)
	case ModeDHCP:
		if c.cfg.DHCP == nil {
			return fmt.Errorf("mode dhcp on %s: %w", name, ErrNoDHCP)
		}
		cur, err := h.Snapshot(ctx, name)
		if err != nil {
			return err
		}
		st := StaticState(name, lc, cur.MTU)
		if keepLease {
			st.Addresses, st.Routes = cur.Addresses, cur.Routes
		}
		if err := h.Apply(ctx, name, st); err != nil {
			return err
		}
		return c.cfg.DHCP.Start(ctx, name)
	default: // only up/down recorded
		cur, err := h.Snapshot(ctx, name)
		if err != nil {
			return err
		}
		cur.AdminUp = lc.IsUp()
		return h.Apply(ctx, name, cur)
	}
}

// Close stops the rollback timer; a pending change stays journaled and the
// next Recover rolls it back.
func (c *Changer) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
	c.pending = nil
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
