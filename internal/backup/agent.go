package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/netif"
)

// AgentState is the agent's share of a backup: the settings it keeps in
// agent.state_dir. Pending changes (journals), the change log, command
// history and the agent's audit log are not settings and are not part of
// it.
type AgentState struct {
	AP  apmgr.State
	LAN map[string]netif.LinkConfig
}

// ReadAgentState reads the agent's settings from cfg's agent.state_dir
// (root only), and the deny list from the installed deny file (denyFile;
// "" is the device's) while the state directory has none.
func ReadAgentState(cfg config.Config, denyFile string) (AgentState, error) {
	ap, err := apmgr.ReadState(cfg.Agent.StateDir, denyFile)
	if err != nil {
		return AgentState{}, fmt.Errorf("reading the access point's settings: %w", err)
	}
	lan, err := netif.ReadDesired(cfg, netif.DesiredDir(cfg))
	if err != nil {
		return AgentState{}, fmt.Errorf("reading the LAN configs: %w", err)
	}
	return AgentState{AP: ap, LAN: lan}, nil
}

// Validate checks s as the agent's API checks a request, against cfg
// (the config the settings go with): the AP settings and deny list as
// apmgr does, each LAN config as netif does for a LAN interface of cfg.
func (s AgentState) Validate(cfg config.Config) error {
	if err := s.AP.Validate(); err != nil {
		return fmt.Errorf("the access point's settings: %w", err)
	}
	if err := netif.ValidateDesired(cfg, s.LAN); err != nil {
		return fmt.Errorf("the LAN configs: %w", err)
	}
	return nil
}

// Agent puts the agent's share of a restore in place.
type Agent interface {
	// Ready says, before a restore changes anything, whether Restore can
	// do its work now.
	Ready(ctx context.Context) error
	// Restore puts s in place, for cfg (the restored config). It returns
	// the change that must be confirmed, or "" when none waits.
	Restore(ctx context.Context, cfg config.Config, s AgentState) (string, error)
}

// OfflineAgent restores the agent's settings while the agent is stopped
// (a replacement device being set up): it writes the agent's files, which
// the agent validates again and applies at its next start, as it does
// everything it reads back (engine Recover, netif ApplyDesired, apmgr
// Sync). A running agent takes a restore through its own change engine
// instead (AgentRestorer), as one change that rolls back unless confirmed.
type OfflineAgent struct {
	// Socket is the running config's agent.socket: while it answers, the
	// agent runs and Ready refuses.
	Socket string
	// StateDir is the running config's agent.state_dir.
	StateDir string
}

// ErrAgentRunning refuses an offline restore of the agent's settings.
var ErrAgentRunning = errors.New("the agent is running")

// Ready implements Agent: the agent must not run, and no change of it may
// be pending (its next start would roll that back over the restored
// settings).
func (o OfflineAgent) Ready(ctx context.Context) error {
	d := net.Dialer{Timeout: time.Second}
	if c, err := d.DialContext(ctx, "unix", o.Socket); err == nil {
		c.Close()
		return fmt.Errorf("%w (%s answers): a running agent restores its settings through its own restore route, "+
			"which is not served yet; stop it (systemctl stop devmgr-agent), restore, then start it", ErrAgentRunning, o.Socket)
	}
	pending, err := change.JournalPending(changesDir(o.StateDir))
	if err != nil {
		return err
	}
	if pending {
		return errors.New("the agent stopped with a change pending, which its next start rolls back: " +
			"start the agent, let it roll the change back, stop it, then restore")
	}
	return nil
}

// changesDir is where the agent keeps its change engine's files (serveAgent
// in cmd/devmgr/agent.go).
func changesDir(stateDir string) string { return filepath.Join(stateDir, "changes") }

// Restore implements Agent: the files are written atomically, the AP's
// first; nothing waits for a confirmation.
func (o OfflineAgent) Restore(_ context.Context, cfg config.Config, s AgentState) (string, error) {
	if err := apmgr.WriteState(cfg.Agent.StateDir, s.AP); err != nil {
		return "", err
	}
	if err := netif.WriteDesired(cfg, netif.DesiredDir(cfg), s.LAN); err != nil {
		return "", err
	}
	return "", nil
}

// KindRestore is a restore's kind of change in the change engine.
const KindRestore = "restore"

// kindDeny is the deny list's part of a restore (apmgr's deny list is no
// change of its own).
const kindDeny = "ap-deny"

// maxParts bounds the parts of a restore's journal read back.
const maxParts = 64

// AgentRestorerConfig configures an AgentRestorer.
type AgentRestorerConfig struct {
	Changes *change.Engine // required; the restorer registers as KindRestore
	// AP and Network are the agent's modules; nil when one is not running
	// (a restore that needs it is refused).
	AP      *apmgr.Manager
	Network *netif.Changer
	Log     *slog.Logger // nil: discard
}

// AgentRestorer is the agent's side of a restore: the AP settings, the
// deny list and the LAN configs of a backup applied as one change of the
// device's change engine, made of the modules' own plans (apmgr
// PlanSettings, netif PlanConfig, apmgr SetDenied). Unless confirmed
// within the rollback timeout, every part is undone, in reverse order; a
// journal left by a crash is checked part by part by the modules' own
// Check before anything is undone. The agent's restore route (the
// integration step) calls Restore.
type AgentRestorer struct {
	cfg AgentRestorerConfig
	log *slog.Logger
}

var _ change.Module = (*AgentRestorer)(nil)

// NewAgentRestorer registers the restorer with the engine. Register it
// with the modules, before the engine's Recover.
func NewAgentRestorer(cfg AgentRestorerConfig) (*AgentRestorer, error) {
	if cfg.Changes == nil {
		return nil, errors.New("backup.NewAgentRestorer: Changes is required")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &AgentRestorer{cfg: cfg, log: log}
	if err := cfg.Changes.Register(KindRestore, r); err != nil {
		return nil, err
	}
	return r, nil
}

// journalPart is one module's share of a restore's journal: its kind,
// target and fields as its own change would record them, and what it
// journaled (undo, or keep).
type journalPart struct {
	Kind   string          `json:"kind"`
	Target string          `json:"target,omitempty"`
	Fields []string        `json:"fields,omitempty"`
	Data   json.RawMessage `json:"data"`
}

// ErrNoChange: the agent's settings are as the backup has them already.
var ErrNoChange = errors.New("the agent's settings are as the backup has them already")

// Restore begins the change that puts s in place: the AP settings (s.AP
// must carry them, with the config's values where the backup had none:
// AgentState.effective), the deny list and each LAN config that differs.
// It returns the pending change (confirm it with the engine), ErrNoChange,
// or the first module's refusal (nothing changed then).
func (r *AgentRestorer) Restore(ctx context.Context, s AgentState) (change.Change, error) {
	return r.cfg.Changes.Begin(ctx, func(ctx context.Context) (change.Plan, error) {
		return r.plan(ctx, s)
	})
}

// plan gathers the modules' plans; it writes nothing.
func (r *AgentRestorer) plan(ctx context.Context, s AgentState) (change.Plan, error) {
	var undo, keep []journalPart
	var applies []func(context.Context) error
	var fields []change.FieldChange
	add := func(p change.Plan, prefix string) error {
		u, err := json.Marshal(p.Undo)
		if err != nil {
			return fmt.Errorf("encoding the undo of the %s part: %w", p.Kind, err)
		}
		k, err := json.Marshal(p.Keep)
		if err != nil {
			return fmt.Errorf("encoding the %s part: %w", p.Kind, err)
		}
		undo = append(undo, journalPart{Kind: p.Kind, Target: p.Target, Fields: p.Fields, Data: u})
		keep = append(keep, journalPart{Kind: p.Kind, Target: p.Target, Fields: p.Fields, Data: k})
		applies = append(applies, p.Apply)
		for _, c := range p.Changes {
			c.Field = fieldName(prefix, c.Field)
			fields = append(fields, c)
		}
		return nil
	}
	if s.AP.Settings != nil {
		if r.cfg.AP == nil {
			return change.Plan{}, errors.New("restoring the access point's settings: the access point module is not running")
		}
		p, err := r.cfg.AP.PlanSettings(ctx, *s.AP.Settings)
		switch {
		case errors.Is(err, apmgr.ErrNoChange):
		case err != nil:
			return change.Plan{}, fmt.Errorf("restoring the access point's settings: %w", err)
		default:
			if err := add(p, "ap"); err != nil {
				return change.Plan{}, err
			}
		}
	}
	if s.AP.Deny != nil {
		if r.cfg.AP == nil {
			return change.Plan{}, errors.New("restoring the deny list: the access point module is not running")
		}
		next, err := apmgr.CheckDenyList(s.AP.Deny)
		if err != nil {
			return change.Plan{}, fmt.Errorf("restoring the deny list: %w", err)
		}
		if prev := r.cfg.AP.Denied(); !slices.Equal(prev, next) {
			p := change.Plan{Kind: kindDeny, Undo: prev, Keep: nil,
				Changes: []change.FieldChange{{Field: "list", Old: macList(prev), New: macList(next)}},
				Apply:   func(ctx context.Context) error { return r.cfg.AP.SetDenied(ctx, next) }}
			if err := add(p, "deny"); err != nil {
				return change.Plan{}, err
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.LAN)) {
		if r.cfg.Network == nil {
			return change.Plan{}, errors.New("restoring the LAN configs: the network module is not running")
		}
		p, err := r.cfg.Network.PlanConfig(ctx, name, s.LAN[name])
		switch {
		case errors.Is(err, netif.ErrNoChange):
		case err != nil:
			return change.Plan{}, fmt.Errorf("restoring the config of %s: %w", name, err)
		default:
			if err := add(p, name); err != nil {
				return change.Plan{}, err
			}
		}
	}
	if len(applies) == 0 {
		return change.Plan{}, ErrNoChange
	}
	return change.Plan{Kind: KindRestore, Changes: clipChanges(fields), Undo: undo, Keep: keep,
		Apply: func(ctx context.Context) error {
			for _, apply := range applies {
				if err := apply(ctx); err != nil {
					return err
				}
			}
			return nil
		}}, nil
}

// fieldName makes a part's field a field name of the engine's: the
// part's prefix (ap, deny, an interface) and the field, in lower case
// letters, digits and '_'.
func fieldName(prefix, field string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, prefix+"_"+field)
	if s[0] < 'a' || s[0] > 'z' {
		s = "x" + s
	}
	return s[:min(len(s), 32)]
}

// clipChanges keeps what the engine records of a change's fields: at most
// 32, the last saying how many more there are.
func clipChanges(cs []change.FieldChange) []change.FieldChange {
	const most = 32
	if len(cs) <= most {
		return cs
	}
	out := slices.Clone(cs[:most-1])
	return append(out, change.FieldChange{Field: "more", New: fmt.Sprintf("%d more fields", len(cs)-most+1)})
}

// macList shows a deny list in a change, within the engine's bounds.
func macList(l []string) string {
	s := strings.Join(l, ", ")
	if len(s) > 1000 {
		return fmt.Sprintf("%d addresses", len(l))
	}
	return s
}

// sub is a part as its module's own change.
func sub(ch change.Change, p journalPart) change.Change {
	x := ch
	x.Kind, x.Target, x.Fields, x.Changes = p.Kind, p.Target, p.Fields, nil
	return x
}

func decodeParts(b json.RawMessage) ([]journalPart, error) {
	var parts []journalPart
	if err := change.DecodeStrict(b, &parts); err != nil {
		return nil, err
	}
	if len(parts) == 0 || len(parts) > maxParts {
		return nil, fmt.Errorf("%d parts, want 1 to %d", len(parts), maxParts)
	}
	return parts, nil
}

// Check implements change.Module: each part must be one a restore makes,
// pass its module's own Check, and the undo and keep must name the same
// parts.
func (r *AgentRestorer) Check(ch change.Change, undo, keep json.RawMessage) error {
	us, err := decodeParts(undo)
	if err != nil {
		return change.Invalidf("undo of restore %s: %v", ch.ID, err)
	}
	ks, err := decodeParts(keep)
	if err != nil {
		return change.Invalidf("keep of restore %s: %v", ch.ID, err)
	}
	if len(us) != len(ks) {
		return change.Invalidf("restore %s: %d parts to undo, %d to keep", ch.ID, len(us), len(ks))
	}
	for i, u := range us {
		k := ks[i]
		if u.Kind != k.Kind || u.Target != k.Target || !slices.Equal(u.Fields, k.Fields) {
			return change.Invalidf("restore %s: part %d differs between undo and keep", ch.ID, i)
		}
		switch u.Kind {
		case apmgr.Kind:
			if r.cfg.AP == nil {
				return change.Invalidf("restore %s: an access point part, and no access point module", ch.ID)
			}
			err = r.cfg.AP.Check(sub(ch, u), u.Data, k.Data)
		case netif.Kind:
			if r.cfg.Network == nil {
				return change.Invalidf("restore %s: a network part, and no network module", ch.ID)
			}
			err = r.cfg.Network.Check(sub(ch, u), u.Data, k.Data)
		case kindDeny:
			var prev []string
			if err = change.DecodeStrict(u.Data, &prev); err == nil {
				_, err = apmgr.CheckDenyList(prev)
			}
			if err == nil && (r.cfg.AP == nil || u.Target != "" || len(u.Fields) > 0 || string(k.Data) != "null") {
				err = fmt.Errorf("a deny list part with a target, fields or something to keep")
			}
		default:
			err = fmt.Errorf("part %d has kind %q", i, change.Clip(u.Kind))
		}
		if err != nil {
			if errors.Is(err, change.ErrInvalid) {
				return err
			}
			return change.Invalidf("restore %s: %v", ch.ID, err)
		}
	}
	return nil
}

// Undo implements change.Module: every part is undone, the last applied
// first, each by its module; a part that asks for its journal to be kept
// keeps the whole journal (undoing a part again is harmless).
func (r *AgentRestorer) Undo(ctx context.Context, ch change.Change, undo json.RawMessage) error {
	parts, err := decodeParts(undo)
	if err != nil {
		return fmt.Errorf("decoding the undo of restore %s: %w", ch.ID, err)
	}
	var errs []error
	for _, p := range slices.Backward(parts) {
		var err error
		switch p.Kind {
		case apmgr.Kind:
			err = r.cfg.AP.Undo(ctx, sub(ch, p), p.Data)
		case netif.Kind:
			err = r.cfg.Network.Undo(ctx, sub(ch, p), p.Data)
		case kindDeny:
			var prev []string
			if err = change.DecodeStrict(p.Data, &prev); err == nil {
				err = r.cfg.AP.SetDenied(ctx, prev)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("undoing the %s part: %w", p.Kind, err))
		}
	}
	return errors.Join(errs...)
}

// Keep implements change.Module: each module keeps its part.
func (r *AgentRestorer) Keep(ctx context.Context, ch change.Change, keep json.RawMessage) error {
	parts, err := decodeParts(keep)
	if err != nil {
		return fmt.Errorf("decoding restore %s: %w", ch.ID, err)
	}
	var errs []error
	for _, p := range parts {
		switch p.Kind {
		case apmgr.Kind:
			err = r.cfg.AP.Keep(ctx, sub(ch, p), p.Data)
		case netif.Kind:
			err = r.cfg.Network.Keep(ctx, sub(ch, p), p.Data)
		default:
			err = nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("keeping the %s part: %w", p.Kind, err))
		}
	}
	return errors.Join(errs...)
}
