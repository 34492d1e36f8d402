package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/commands"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/netif"
)

// Commands is the command catalog as the agent serves it (commandsapi.go):
// the runner, the history of runs in agent.state_dir, and the interfaces
// an interface parameter may name. Every run's start and end goes to the
// agent's audit log. OpenCommands makes it; Close ends it.
type Commands struct {
	catalog []config.Command
	runner  *commands.Runner
	history *commands.History
	env     linkEnv
}

// OpenCommands opens the command history in cfg's agent.state_dir and
// starts a runner for cfg's catalog (config.Catalog), auditing to audit.
// Interface parameters are checked against the links of h's namespace
// (and cfg.LAN for lan_only). Where systemd is PID 1 every run gets a
// transient scope with a memory limit.
func OpenCommands(ctx context.Context, cfg config.Config, h *netif.Handle, audit Auditor, log *slog.Logger) (*Commands, error) {
	return openCommands(ctx, commandsOptions{
		Catalog: cfg.Catalog(), StateDir: cfg.Agent.StateDir, LAN: cfg.LAN,
		Retention: commands.Retention{KeepRuns: cfg.CommandHistory.KeepRuns, MaxBytes: int64(cfg.CommandHistory.MaxSize)},
		Links:     netlinkNames(h), Audit: audit, Log: log, Scope: true,
	})
}

// commandsOptions are OpenCommands' parts, which tests choose.
type commandsOptions struct {
	Catalog   []config.Command
	StateDir  string
	Retention commands.Retention
	LAN       []string
	Links     func() ([]string, error) // the interfaces that exist
	Audit     Auditor
	Log       *slog.Logger
	MaxRuns   int           // 0: commands.DefaultMaxRuns
	Grace     time.Duration // 0: toolrun's
	Scope     bool
}

func openCommands(ctx context.Context, o commandsOptions) (*Commands, error) {
	switch {
	case o.Links == nil:
		return nil, errors.New("agent commands: a link lister is required")
	case o.Audit == nil || o.Log == nil:
		return nil, errors.New("agent commands: an auditor and a logger are required")
	}
	hist, err := commands.OpenHistory(ctx, o.StateDir, o.Retention)
	if err != nil {
		return nil, err
	}
	env := linkEnv{links: o.Links, lan: o.LAN}
	runner, err := commands.NewRunner(commands.Config{
		Log: o.Log.With("component", "commands"), History: auditingRecorder{hist, o.Audit, o.Log},
		Env: commands.Env{Interface: env.check}, MaxRuns: o.MaxRuns, Grace: o.Grace, Scope: o.Scope,
	})
	if err != nil {
		hist.Close()
		return nil, err
	}
	return &Commands{catalog: o.Catalog, runner: runner, history: hist, env: env}, nil
}

// Close stops the runs still running (each is recorded and audited as
// interrupted), then closes the history.
func (c *Commands) Close() error {
	c.runner.Close()
	return c.history.Close()
}

// netlinkNames lists the links of h's namespace.
func netlinkNames(h *netif.Handle) func() ([]string, error) {
	return func() ([]string, error) {
		links, err := h.Netlink().LinkList()
		if err != nil {
			return nil, fmt.Errorf("listing links: %w", err)
		}
		names := make([]string, 0, len(links))
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		return names, nil
	}
}

// linkEnv is what an interface parameter may name: a link that exists,
// and with lan_only one of config lan.
type linkEnv struct {
	links func() ([]string, error)
	lan   []string
}

// check is commands.Env.Interface.
func (e linkEnv) check(name string, lanOnly bool) error {
	if lanOnly && !slices.Contains(e.lan, name) {
		if len(e.lan) == 0 {
			return fmt.Errorf("%q is not a LAN interface: the device has none (config lan)", name)
		}
		return fmt.Errorf("%q is not a LAN interface (%s)", name, strings.Join(e.lan, ", "))
	}
	names, err := e.links()
	if err != nil {
		return fmt.Errorf("cannot be checked now: the device's interfaces could not be read")
	}
	if !slices.Contains(names, name) {
		return fmt.Errorf("%q: the device has no such interface", name)
	}
	return nil
}

// choices are the interfaces a parameter may name now, sorted; nil when
// they cannot be read.
func (e linkEnv) choices(lanOnly bool) []string {
	names, err := e.links()
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range names {
		if !lanOnly || slices.Contains(e.lan, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// auditingRecorder is the runner's history, auditing each run's start
// and end as it records them: so the end of every run is audited, also
// one that times out, is cancelled or interrupted by the agent's stop.
type auditingRecorder struct {
	h     *commands.History
	audit Auditor
	log   *slog.Logger
}

// maxParamsDetail is how much of a run's parameters an audit entry keeps.
const maxParamsDetail = 400

func (a auditingRecorder) Begin(ctx context.Context, r commands.Record) (int64, error) {
	id, err := a.h.Begin(ctx, r)
	if err != nil {
		return 0, err
	}
	detail := fmt.Sprintf("run %d started", id)
	if p := paramsText(r.Params); p != "" {
		detail += "; " + auditlog.Clip(p, maxParamsDetail)
	}
	a.write(r, auditlog.ResultOK, detail)
	return id, nil
}

func (a auditingRecorder) Finish(ctx context.Context, r commands.Record) error {
	err := a.h.Finish(ctx, r)
	result := auditlog.ResultFailed
	if r.Status == commands.StatusOK {
		result = auditlog.ResultOK
	}
	detail := fmt.Sprintf("run %d %s, exit %d after %s", r.ID, r.Status, r.ExitCode, r.Duration.Round(time.Millisecond))
	if r.Error != "" {
		detail += ": " + r.Error
	}
	if r.Truncated {
		detail += " (output truncated)"
	}
	a.write(r, result, detail)
	return err
}

func (a auditingRecorder) write(r commands.Record, result, detail string) {
	e := AuditEntry{User: r.User, Source: r.Source, Action: api.ActCommandRun, Target: r.Command, Result: result, Detail: detail}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.audit.Audit(ctx, e); err != nil {
		a.log.Error("writing audit entry", "action", e.Action, "target", e.Target, "err", err)
	}
}

// paramsText is "name=value ..." in name order.
func paramsText(params map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", k, params[k])
	}
	return b.String()
}
