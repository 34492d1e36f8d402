package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/config"
)

// CheckArchive reads and verifies an archive (Read, then Verify) and
// returns its manifest and the state it holds; the staged files are
// removed. This is `devmgr backup verify`.
func CheckArchive(ctx context.Context, r io.Reader, o ReadOptions, log *slog.Logger) (Manifest, State, error) {
	c, err := Read(r, o)
	if err != nil {
		return Manifest{}, State{}, err
	}
	defer c.Close()
	st, err := Verify(ctx, c, log)
	return c.Manifest, st, err
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Sources are the device as it is: its config (whose file the
	// restored config replaces), console and agent files.
	Sources
	// Passphrase is asked for when the archive is encrypted.
	Passphrase func() (string, error)
	// Maps renames the backup's interfaces (--map old=new).
	Maps map[string]string
	// DryRun shows the plan and changes nothing.
	DryRun bool
	// Interfaces lists the device's interface names; nil: net.Interfaces.
	Interfaces func() ([]string, error)
	// Agent restores the agent's settings; required unless DryRun.
	Agent Agent
	// Dir is backup.dir, where the state before the restore is kept.
	Dir      string
	Version  string // this devmgr's
	Hostname string // "": os.Hostname
	Now      func() time.Time
	// Out receives the plan and each step done; nil discards them.
	Out io.Writer
	// Audit records the restore in the agent's audit log; nil: not there
	// (the console's own log records its part).
	Audit Auditor
	// KeepConfig keeps the device's config file: a restore through the
	// agent (the console's) puts back what an admin may change from the
	// console, never the config, which only root may change (see
	// Facts.KeepConfig).
	KeepConfig bool
}

// Result says what Restore did.
type Result struct {
	Plan *Plan
	// PreRestore is the backup of the device as it was, in Dir.
	PreRestore string
	// Change is the agent's change to confirm ("" when none waits).
	Change string
}

// Restore puts the backup read from r in place of the device's state. The
// archive is checked whole first (Read, Verify) and the plan computed
// (PlanRestore) against the device as it is, whose state is collected as
// a backup would be; a refused archive, interfaces this device lacks
// (Plan.Blocked) or an agent that cannot take its part (Agent.Ready) stop
// the restore before anything changes. Then the device's state is kept
// as a pre-restore backup in Dir, and the steps run: the config file
// (config.WriteKeeping, atomic), the console's accounts and TLS pair
// (Console.Import: one transaction, every session ends), the agent's
// settings (Agent.Restore). Should a step fail, the error names the steps
// done and the pre-restore backup that puts them back.
func Restore(ctx context.Context, r io.Reader, o RestoreOptions) (*Result, error) {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	s, err := Stage(ctx, r, o)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	c, p := s.c, s.Plan
	fmt.Fprintf(out, "backup made by devmgr %s on %s at %s (%s)\n", c.Manifest.Version, c.Manifest.Hostname,
		c.Manifest.CreatedAt.Format(time.RFC3339), c.Manifest.Kind)
	res := &Result{Plan: p}
	if err := p.Write(out); err != nil {
		return res, err
	}
	if err := p.Blocked(); err != nil {
		return res, err
	}
	if o.DryRun {
		fmt.Fprintln(out, "dry run: nothing changed")
		return res, nil
	}
	if o.Agent == nil {
		return res, errors.New("backup.Restore: Agent is required")
	}
	if err := o.Agent.Ready(ctx); err != nil {
		return res, fmt.Errorf("nothing changed: %w", err)
	}
	if res.PreRestore, err = s.KeepCurrent(); err != nil {
		return res, fmt.Errorf("nothing changed: keeping the device's state first: %w", err)
	}
	fmt.Fprintf(out, "the device's state before the restore: %s\n", res.PreRestore)
	res.Change, err = o.apply(ctx, c, p, out)
	o.audit(ctx, res, c, err)
	return res, err
}

// Staged is a restore read, verified and planned against the device as
// it is, with nothing changed yet: the agent applies it in steps (its own
// settings as a change of its change engine, the console's part once
// that is confirmed). Close removes the staged files.
type Staged struct {
	// Plan is what the restore does; Plan.Blocked says whether it can.
	Plan *Plan
	// Manifest is the backup's.
	Manifest Manifest
	c, cur   *Contents
	o        RestoreOptions
}

// Stage reads and verifies the archive in r (Read, Verify), collects the
// device's state as a backup would, and plans the restore (PlanRestore
// with o.Maps and o.KeepConfig). A refused archive is an error wrapping
// one of the package's Err values, a map or a backup that does not fit
// the device ErrPlan; a plan that is blocked is not an error.
func Stage(ctx context.Context, r io.Reader, o RestoreOptions) (*Staged, error) {
	log := o.log()
	c, err := Read(r, ReadOptions{Passphrase: o.Passphrase, Limits: o.Limits, TempDir: o.TempDir})
	if err != nil {
		return nil, err
	}
	s := &Staged{Manifest: c.Manifest, c: c, o: o}
	next, err := Verify(ctx, c, log)
	if err != nil {
		s.Close()
		return nil, err
	}
	if s.cur, err = Collect(ctx, o.Sources); err != nil {
		s.Close()
		return nil, fmt.Errorf("reading the device's state: %w", err)
	}
	curState, err := verify(ctx, s.cur, log, false)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("reading the device's state: %w", err)
	}
	interfaces := o.Interfaces
	if interfaces == nil {
		interfaces = localInterfaces
	}
	names, err := interfaces()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("listing the device's interfaces: %w", err)
	}
	if s.Plan, err = PlanRestore(curState, next, Facts{Interfaces: names, KeepConfig: o.KeepConfig}, o.Maps); err != nil {
		s.Close()
		return nil, fmt.Errorf("%w: %w", ErrPlan, err)
	}
	return s, nil
}

// Close removes the staged files.
func (s *Staged) Close() {
	s.c.Close()
	s.cur.Close()
}

// KeepCurrent writes the device's state, as Stage collected it, into
// backup.dir as a pre-restore backup and returns its path.
func (s *Staged) KeepCurrent() (string, error) { return s.o.keepCurrent(s.cur) }

// RestoreConsole puts the backup's console part in place: the users and
// tokens (every session ends) and the TLS pair when the device serves a
// pair devmgr generated (Console.Import).
func (s *Staged) RestoreConsole(ctx context.Context) error {
	return s.c.importConsole(ctx, s.o.Console, generatedTLS(s.Plan.Next.Config))
}

// keepCurrent writes the device's state, as collected, into Dir.
func (o RestoreOptions) keepCurrent(cur *Contents) (string, error) {
	if err := EnsureDir(o.Dir); err != nil {
		return "", err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	host := o.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	at := now().UTC().Truncate(time.Second)
	cur.Manifest = Manifest{Version: o.Version, Hostname: host, CreatedAt: at, Kind: KindPreRestore}
	path := filepath.Join(o.Dir, Name(host, at, KindPreRestore, false))
	if _, err := os.Lstat(path); err == nil {
		return "", fmt.Errorf("%s: %w", path, ErrExists)
	}
	return path, writeFile(path, cur, WriteOptions{})
}

// apply runs the steps; it returns the agent's change to confirm.
func (o RestoreOptions) apply(ctx context.Context, c *Contents, p *Plan, out io.Writer) (string, error) {
	var done []string
	fail := func(step string, err error) error {
		d := "nothing"
		if len(done) > 0 {
			d = strings.Join(done, ", ")
		}
		return fmt.Errorf("restoring %s: %w (restored before it: %s; the device's previous state is kept as a backup: devmgr backup restore puts it back)", step, err, d)
	}
	if p.ConfigDiff != "" {
		header := fmt.Sprintf("# Restored by devmgr from a backup made on %s at %s.\n", c.Manifest.Hostname, c.Manifest.CreatedAt.Format(time.RFC3339))
		if err := config.WriteKeeping(o.ConfigPath, p.Next.Config, header); err != nil {
			return "", fail("the config", err)
		}
		done = append(done, "the config")
		fmt.Fprintf(out, "restored the config %s\n", o.ConfigPath)
	}
	if err := c.importConsole(ctx, o.Console, generatedTLS(p.Next.Config)); err != nil {
		return "", fail("the console's accounts", err)
	}
	done = append(done, "the console's accounts")
	fmt.Fprintf(out, "restored %d users and %d tokens; every session ended\n", len(p.Next.Users), len(p.Next.Tokens))
	if p.TLS {
		fmt.Fprintln(out, "restored the TLS certificate: the console serves it from its next start")
	}
	id, err := o.Agent.Restore(ctx, p.Next.Config, p.Next.Agent)
	if err != nil {
		return "", fail("the agent's settings", err)
	}
	if id != "" {
		fmt.Fprintf(out, "the agent's settings are change %s: confirm it within %s, or the device returns to its previous settings\n",
			id, p.Next.Config.Network.RollbackTimeout)
	} else {
		fmt.Fprintln(out, "restored the agent's settings: the agent applies them when it starts")
	}
	return id, nil
}

func (o RestoreOptions) audit(ctx context.Context, res *Result, c *Contents, err error) {
	if o.Audit == nil {
		return
	}
	e := auditlog.Entry{User: "restore", Source: "local", Action: ActRestore, Target: "device", Result: auditlog.ResultOK,
		Detail: fmt.Sprintf("backup made on %s at %s; previous state kept in %s", c.Manifest.Hostname,
			c.Manifest.CreatedAt.Format(time.RFC3339), filepath.Base(res.PreRestore))}
	if err != nil {
		e.Result, e.Detail = auditlog.ResultFailed, err.Error()
	}
	if aerr := o.Audit(ctx, e); aerr != nil {
		o.log().Error("writing audit entry", "action", ActRestore, "err", aerr)
	}
}

// localInterfaces lists this network namespace's interface names.
func localInterfaces() ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ifs))
	for i, ifc := range ifs {
		names[i] = ifc.Name
	}
	return names, nil
}
