package netif

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/devmgr/devmgr/internal/fielderr"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
)

// Kind is the network module's kind of change in the change engine.
const Kind = "network"

// Errors of the Changer; the change errors are the engine's.
var (
	ErrPending       = change.ErrPending
	ErrUnknownChange = change.ErrUnknownChange
	ErrNotPending    = change.ErrNotPending
	ErrNoDHCP        = errors.New("no DHCP client available")
	// ErrNoChange: the link is as asked already; no change is started.
	ErrNoChange = errors.New("nothing to change")
)

// Status of a change.
const (
	StatusPending    = change.StatusPending
	StatusConfirmed  = change.StatusConfirmed
	StatusRolledBack = change.StatusRolledBack
)

// DHCPController runs the DHCP client of LAN interfaces; dhcp.Manager
// implements it. Start and Stop are idempotent and must not block for a
// lease.
type DHCPController interface {
	// Start runs a DHCP client on the link (no-op when one runs).
	Start(ctx context.Context, name string) error
	// Stop ends the client, releasing its lease and removing what it
	// applied when release is true (no-op when none runs).
	Stop(ctx context.Context, name string, release bool) error
	// Bound reports whether the link's client holds a lease.
	Bound(name string) bool
}

// DHCP states of a link (Changer.DHCPState).
const (
	DHCPWaiting = "waiting" // mode dhcp in force, no lease bound (yet)
	DHCPBound   = "bound"
)

// Config configures a Changer.
type Config struct {
	Handle    *Handle       // required: the namespace whose links change
	AppConfig config.Config // ap.interface and lan, for policy and validation
	// Changes is the device's change engine (required); the Changer
	// registers itself as Kind.
	Changes *change.Engine
	// Dir holds desired.json, the confirmed LAN configs; default
	// AppConfig.Agent.StateDir/network. What is read back from it is
	// validated again (replay.go).
	Dir string
	// OnRejected, if set, is told of desired.json when it failed
	// validation; it was set aside and not applied.
	OnRejected func(file, reason string)
	DHCP       DHCPController // nil: mode dhcp is refused
	Log        *slog.Logger   // nil: discard
	// OnApplied, when set, is given the LAN configs in force (the
	// confirmed ones, and a pending change's in place of its interface's)
	// each time they may have changed: after a change is applied, undone
	// or confirmed, and after ApplyDesired. It runs with the Changer
	// locked and must not call it (the agent writes the LAN DNS servers
	// from it).
	OnApplied func(applied map[string]LinkConfig)
}

// Change is one network change as the API shows it.
type Change struct {
	ID        string `json:"change_id"`
	Interface string `json:"interface"`
	Status    string `json:"status"`
	User      string `json:"user,omitempty"` // who began it
	// Changes says what it does, field by field (Diff).
	Changes    []change.FieldChange `json:"changes,omitempty"`
	CreatedAt  time.Time            `json:"created_at"`
	RollbackAt time.Time            `json:"rollback_at"`
	FinishedAt *time.Time           `json:"finished_at,omitempty"`
	Error      string               `json:"error,omitempty"` // why a rollback was incomplete
	// Waiting says what a pending change still waits for before the link
	// works as asked (a DHCP lease); "" when nothing.
	Waiting string `json:"waiting,omitempty"`
}

// WaitingForLease is Change.Waiting of a pending change to mode dhcp
// while no lease is bound.
const WaitingForLease = "waiting for a DHCP lease"

// fromChange shows ch, and what it waits for while it is pending.
func (c *Changer) fromChange(ch change.Change) Change {
	x := Change{ID: ch.ID, Interface: ch.Target, Status: ch.Status, User: ch.User, Changes: ch.Changes,
		CreatedAt: ch.CreatedAt, RollbackAt: ch.RollbackAt, FinishedAt: ch.FinishedAt, Error: ch.Error}
	if ch.Status == StatusPending && c.DHCPState(ch.Target) == DHCPWaiting {
		x.Waiting = WaitingForLease
	}
	return x
}

// undoState is what a network change journals to undo it: the link's
// state and the confirmed config it had.
type undoState struct {
	Prev       State       `json:"prev"`
	PrevConfig *LinkConfig `json:"prev_config,omitempty"`
}

// keepState is what a confirmed change makes the desired config.
type keepState struct {
	Config LinkConfig `json:"config"`
}

// Changer is the network module: it validates LAN changes and hands them
// to the change engine, which rolls them back unless confirmed in time.
// It keeps the confirmed configs and applies them at start.
type Changer struct {
	cfg    Config
	log    *slog.Logger
	reject change.Rejecter

	mu      sync.Mutex // guards the fields below
	desired map[string]LinkConfig
	trying  *tryConfig // the pending change's config, in force until undone or kept
}

type tryConfig struct {
	name string
	lc   LinkConfig
}

var _ change.Module = (*Changer)(nil)

// NewChanger checks cfg, loads the confirmed configs and registers the
// Changer with the engine. Call the engine's Recover, then ApplyDesired,
// at start.
func NewChanger(cfg Config) (*Changer, error) {
	if cfg.Handle == nil || cfg.Changes == nil {
		return nil, errors.New("netif.NewChanger: Handle and Changes are required")
	}
	if cfg.Dir == "" {
		if cfg.AppConfig.Agent.StateDir == "" {
			return nil, errors.New("netif.NewChanger: Dir or AppConfig.Agent.StateDir is required")
		}
		cfg.Dir = filepath.Join(cfg.AppConfig.Agent.StateDir, "network")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the network state directory: %w", err)
	}
	c := &Changer{cfg: cfg, log: log, desired: map[string]LinkConfig{},
		reject: change.Rejecter{Dir: cfg.Dir, Prefix: "network/", OnRejected: cfg.OnRejected, Log: log}}
	if err := c.loadDesired(); err != nil {
		return nil, err
	}
	if err := cfg.Changes.Register(Kind, c); err != nil {
		return nil, err
	}
	return c, nil
}

// loadDesired reads desired.json; configs that fail validation are set
// aside and none is applied.
func (c *Changer) loadDesired() error {
	_, err := change.ReadJSON(c.path(desiredFile), &c.desired)
	if err == nil {
		err = c.validDesired(c.desired)
	}
	if errors.Is(err, change.ErrInvalid) {
		c.reject.Reject(desiredFile, err)
		c.desired, err = map[string]LinkConfig{}, nil
	}
	return err
}

const desiredFile = "desired.json"

func (c *Changer) path(name string) string { return filepath.Join(c.cfg.Dir, name) }

// Desired returns the confirmed config of a LAN interface.
func (c *Changer) Desired(name string) (LinkConfig, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lc, ok := c.desired[name]
	return lc, ok
}

// InForce returns the config in force on name: a pending change's, else
// the confirmed one.
func (c *Changer) InForce(name string) (LinkConfig, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.trying; t != nil && t.name == name {
		return t.lc, true
	}
	lc, ok := c.desired[name]
	return lc, ok
}

// DHCPState says whether the config in force on name is mode dhcp and
// its client holds a lease: DHCPBound, DHCPWaiting, or "" when the link
// is not in mode dhcp.
func (c *Changer) DHCPState(name string) string {
	lc, ok := c.InForce(name)
	if !ok || lc.Mode != ModeDHCP || c.cfg.DHCP == nil {
		return ""
	}
	if c.cfg.DHCP.Bound(name) {
		return DHCPBound
	}
	return DHCPWaiting
}

// Get returns a network change by id (ErrUnknownChange for none, and for
// other modules' changes).
func (c *Changer) Get(id string) (Change, error) {
	ch, err := c.cfg.Changes.Get(id)
	if err == nil && ch.Kind != Kind {
		err = fmt.Errorf("network change %q: %w", id, ErrUnknownChange)
	}
	if err != nil {
		return Change{}, err
	}
	return c.fromChange(ch), nil
}

// Changes returns the logged network changes, newest first.
func (c *Changer) Changes() []Change {
	var out []Change
	for _, ch := range c.cfg.Changes.Changes() {
		if ch.Kind == Kind {
			out = append(out, c.fromChange(ch))
		}
	}
	return out
}

// Pending returns the pending change, if it is a network change.
func (c *Changer) Pending() (Change, bool) {
	ch, ok := c.cfg.Changes.Pending()
	if !ok || ch.Kind != Kind {
		return Change{}, false
	}
	return c.fromChange(ch), true
}

// Confirm keeps a pending network change and makes its config the
// desired one.
func (c *Changer) Confirm(ctx context.Context, id string) (Change, error) {
	if _, err := c.Get(id); err != nil {
		return Change{}, err
	}
	ch, err := c.cfg.Changes.Confirm(ctx, id)
	return c.fromChange(ch), err
}

// SetConfig validates lc and applies it to LAN interface name as a change.
func (c *Changer) SetConfig(ctx context.Context, name string, lc LinkConfig) (Change, error) {
	if name == c.cfg.AppConfig.AP.Interface {
		return Change{}, protectedErr(name)
	}
	ch, err := c.cfg.Changes.Begin(ctx, func(ctx context.Context) (change.Plan, error) {
		return c.planConfig(ctx, name, lc)
	})
	return c.fromChange(ch), err
}

// planConfig validates lc for name and plans applying it.
func (c *Changer) planConfig(ctx context.Context, name string, lc LinkConfig) (change.Plan, error) {
	if err := c.validate(ctx, name, lc); err != nil {
		return change.Plan{}, err
	}
	if same, err := c.inForce(ctx, name, lc); err != nil || same {
		return change.Plan{}, cmp.Or(err, fmt.Errorf("%s has this configuration already: %w", name, ErrNoChange))
	}
	return c.plan(ctx, name, lc, func(ctx context.Context) error { return c.applyConfig(ctx, name, lc, false) })
}

// validate checks lc against the config and the interfaces there are now.
func (c *Changer) validate(ctx context.Context, name string, lc LinkConfig) error {
	cur, err := c.cfg.Handle.List(ctx)
	if err != nil {
		return err
	}
	if err := Validate(c.cfg.AppConfig, name, lc, cur); err != nil {
		return err
	}
	if lc.Mode == ModeDHCP && c.cfg.DHCP == nil {
		return fielderr.List{{Field: "mode", Message: ErrNoDHCP.Error()}}
	}
	return nil
}

// SetUp sets a LAN interface administratively up or down as a change.
func (c *Changer) SetUp(ctx context.Context, name string, up bool) (Change, error) {
	if name == c.cfg.AppConfig.AP.Interface {
		return Change{}, protectedErr(name)
	}
	ch, err := c.cfg.Changes.Begin(ctx, func(ctx context.Context) (change.Plan, error) {
		cur, err := c.cfg.Handle.List(ctx)
		if err != nil {
			return change.Plan{}, err
		}
		if err := ValidateUp(c.cfg.AppConfig, name, cur); err != nil {
			return change.Plan{}, err
		}
		lc, _ := c.Desired(name)
		if st, err := c.cfg.Handle.Snapshot(ctx, name); err != nil {
			return change.Plan{}, err
		} else if st.AdminUp == up && lc.IsUp() == up {
			return change.Plan{}, fmt.Errorf("%s is %s already: %w", name, upWord(up), ErrNoChange)
		}
		lc.Up = &up
		return c.plan(ctx, name, lc, func(ctx context.Context) error {
			st, err := c.cfg.Handle.Snapshot(ctx, name)
			if err != nil {
				return err
			}
			st.AdminUp = up
			return c.cfg.Handle.Apply(ctx, name, st)
		})
	})
	return c.fromChange(ch), err
}

func upWord(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// inForce reports whether lc is the confirmed config of name and the link
// still has what it asks for (a link changed behind devmgr's back is not:
// applying lc again repairs it).
func (c *Changer) inForce(ctx context.Context, name string, lc LinkConfig) (bool, error) {
	cur, ok := c.Desired(name)
	if !ok || !sameConfig(cur, lc) {
		return false, nil
	}
	st, err := c.cfg.Handle.Snapshot(ctx, name)
	if err != nil {
		return false, err
	}
	if st.AdminUp != lc.IsUp() || (lc.MTU != 0 && st.MTU != lc.MTU) {
		return false, nil
	}
	if lc.Mode == ModeStatic {
		have := map[string]bool{}
		for _, a := range st.Addresses {
			have[a.CIDR] = true
		}
		for _, a := range lc.Addresses {
			if p, err := netip.ParsePrefix(a); err != nil || !have[p.String()] {
				return false, nil
			}
		}
	}
	return true, nil
}

// sameConfig compares two configs as what they ask for (a nil Up is up).
func sameConfig(a, b LinkConfig) bool {
	a.Up, b.Up = nil, nil
	return a.Mode == b.Mode && slices.Equal(a.Addresses, b.Addresses) && a.Gateway == b.Gateway &&
		slices.Equal(a.DNS, b.DNS) && a.MTU == b.MTU
}

// plan journals the link's state and confirmed config for the undo, and
// next for confirm; while the change is pending, next is in force.
func (c *Changer) plan(ctx context.Context, name string, next LinkConfig, apply func(ctx context.Context) error) (change.Plan, error) {
	prev, err := c.cfg.Handle.Snapshot(ctx, name)
	if err != nil {
		return change.Plan{}, err
	}
	u := undoState{Prev: prev}
	if pc, ok := c.Desired(name); ok {
		u.PrevConfig = &pc
	}
	return change.Plan{Kind: Kind, Target: name, Undo: u, Keep: keepState{Config: next},
		Changes: Diff(u.PrevConfig, prev, next),
		Apply: func(ctx context.Context) error {
			c.setTrying(&tryConfig{name: name, lc: next}, false)
			if err := apply(ctx); err != nil {
				return fmt.Errorf("applying the change to %s: %w", name, err)
			}
			c.setTrying(&tryConfig{name: name, lc: next}, true)
			return nil
		}}, nil
}

// setTrying records the pending change's config and, when notify is set,
// tells OnApplied.
func (c *Changer) setTrying(t *tryConfig, notify bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trying = t
	if notify {
		c.notifyLocked()
	}
}

// notifyLocked gives OnApplied the configs in force.
func (c *Changer) notifyLocked() {
	if c.cfg.OnApplied == nil {
		return
	}
	applied := maps.Clone(c.desired)
	if t := c.trying; t != nil {
		applied[t.name] = t.lc
	}
	c.cfg.OnApplied(applied)
}

// Check implements change.Module: a journal read back from disk must name
// a LAN interface and hold a state and configs as the API would accept.
func (c *Changer) Check(ch change.Change, undo, keep json.RawMessage) error {
	var u undoState
	var k keepState
	if err := change.DecodeStrict(undo, &u); err != nil {
		return change.Invalidf("undo of change %s: %v", ch.ID, err)
	}
	if err := change.DecodeStrict(keep, &k); err != nil {
		return change.Invalidf("config of change %s: %v", ch.ID, err)
	}
	return c.validJournal(ch.Target, u, k)
}

// Undo implements change.Module: it puts the link and its DHCP client
// back as the journal recorded.
func (c *Changer) Undo(ctx context.Context, ch change.Change, undo json.RawMessage) error {
	var u undoState
	if err := change.DecodeStrict(undo, &u); err != nil {
		return fmt.Errorf("decoding the undo of change %s: %w", ch.ID, err)
	}
	err := c.restore(ctx, ch.Target, u)
	c.setTrying(nil, true)
	return err
}

// Keep implements change.Module: the change's config becomes the desired
// one, applied again at every start.
func (c *Changer) Keep(_ context.Context, ch change.Change, keep json.RawMessage) error {
	var k keepState
	if err := change.DecodeStrict(keep, &k); err != nil {
		return fmt.Errorf("decoding the config of change %s: %w", ch.ID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := maps.Clone(c.desired)
	next[ch.Target] = k.Config
	if err := change.WriteJSON(c.path(desiredFile), next); err != nil {
		return err
	}
	c.desired, c.trying = next, nil
	c.notifyLocked()
	return nil
}

// restore puts the link and its DHCP client back as u recorded.
func (c *Changer) restore(ctx context.Context, name string, u undoState) error {
	var errs []error
	wasDHCP := u.PrevConfig != nil && u.PrevConfig.Mode == ModeDHCP
	if c.cfg.DHCP != nil && !wasDHCP {
		if err := c.cfg.DHCP.Stop(ctx, name, true); err != nil {
			errs = append(errs, fmt.Errorf("stopping DHCP on %s: %w", name, err))
		}
	}
	if err := c.cfg.Handle.Apply(ctx, name, u.Prev); err != nil {
		errs = append(errs, fmt.Errorf("restoring %s: %w", name, err))
	}
	if wasDHCP && c.cfg.DHCP != nil {
		if err := c.cfg.DHCP.Start(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("restarting DHCP on %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// ApplyDesired applies every confirmed LAN config again (at start, after
// the engine's Recover); applying an already applied config changes
// nothing.
func (c *Changer) ApplyDesired(ctx context.Context) error {
	c.mu.Lock()
	desired := maps.Clone(c.desired)
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
	switch lc.Mode {
	case ModeStatic:
		return c.applyStatic(ctx, name, lc)
	case ModeDHCP:
		return c.applyDHCP(ctx, name, lc, keepLease)
	default: // only up/down recorded
		return c.applyUp(ctx, name, lc.IsUp())
	}
}

func (c *Changer) applyStatic(ctx context.Context, name string, lc LinkConfig) error {
	if c.cfg.DHCP != nil {
		if err := c.cfg.DHCP.Stop(ctx, name, true); err != nil {
			return fmt.Errorf("stopping DHCP on %s: %w", name, err)
		}
	}
	return c.cfg.Handle.ApplyConfig(ctx, name, lc)
}

func (c *Changer) applyDHCP(ctx context.Context, name string, lc LinkConfig, keepLease bool) error {
	if c.cfg.DHCP == nil {
		return fmt.Errorf("mode dhcp on %s: %w", name, ErrNoDHCP)
	}
	cur, err := c.cfg.Handle.Snapshot(ctx, name)
	if err != nil {
		return err
	}
	st := StaticState(name, lc, cur.MTU)
	if keepLease {
		st.Addresses, st.Routes = cur.Addresses, cur.Routes
	}
	if err := c.cfg.Handle.Apply(ctx, name, st); err != nil {
		return err
	}
	return c.cfg.DHCP.Start(ctx, name)
}

func (c *Changer) applyUp(ctx context.Context, name string, up bool) error {
	cur, err := c.cfg.Handle.Snapshot(ctx, name)
	if err != nil {
		return err
	}
	cur.AdminUp = up
	return c.cfg.Handle.Apply(ctx, name, cur)
}
