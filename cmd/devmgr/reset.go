package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/backup"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/reset"
	"github.com/devmgr/devmgr/internal/service"
	"github.com/devmgr/devmgr/internal/toolrun"
)

func newResetCmd() *cobra.Command {
	var keep, yes, resume bool
	var confirm string
	cmd := &cobra.Command{
		Use:   "reset [--keep-settings] [--yes --confirm HOSTNAME] | --resume",
		Short: "the factory reset: return the overlay (reset.mode) to its factory layer; for root on the device's shell",
		Long: `reset returns the overlay that reset.mode names to its factory (lower) layer.
It shows what differs from the factory, asks you to type the device's host
name, then runs: mode mount stops the services (reset.services and the
console), unmounts the overlay (refused, naming the processes, while anything
holds it), empties the upper and work directories, mounts it again, verifies
that it equals the factory layer and starts the services; mode root writes a
marker on the persistent layer and reboots, and the initramfs empties the upper
layer before it is mounted (devmgr-reset.service finishes the run after the
boot).

--keep-settings (reset.keep_settings by default) keeps the devmgr config, the
console's users and tokens, its TLS certificate and the agent's settings;
without it the console starts afresh with a new generated admin password.

While the agent runs, reset from the console's System page (/system), which
has the agent queue the reset for devmgr-reset.service; here the agent must be
stopped (systemctl stop devmgr-agent), and started again afterwards. --resume
runs a queued reset and finishes one that a crash or a reboot interrupted
(devmgr-reset.service runs it at boot and when the agent queues one; without
systemd the agent runs it as its child).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if resume {
				if cmd.Flags().Changed("keep-settings") || yes || confirm != "" {
					return errors.New("--resume finishes the interrupted reset as it was asked for: no --keep-settings, --yes or --confirm")
				}
				return runResetResume(cmd)
			}
			if yes != (confirm != "") {
				return errors.New("--yes and --confirm HOSTNAME go together: --confirm names the device's host name, which the terminal would ask for")
			}
			return runReset(cmd, keep, cmd.Flags().Changed("keep-settings"), confirm)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep-settings", false, "keep the devmgr config, users and tokens, TLS certificate and agent settings (default reset.keep_settings)")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask; needs --confirm HOSTNAME")
	cmd.Flags().StringVar(&confirm, "confirm", "", "the device's host name, as the terminal would ask for it (with --yes)")
	cmd.Flags().BoolVar(&resume, "resume", false, "finish a reset that a crash or a reboot interrupted")
	return cmd
}

// resetter builds the device's Resetter (newResetter), for root. withAgent
// stops and starts the agent too.
func resetter(cmd *cobra.Command, withAgent bool) (config.Config, *reset.Resetter, error) {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return cfg, nil, err
	}
	if cfg.Reset.Mode == config.ResetNone {
		return cfg, nil, fmt.Errorf("%w: set reset.mode to mount or root first", reset.ErrNotConfigured)
	}
	if os.Geteuid() != 0 {
		return cfg, nil, errors.New("devmgr reset must run as root: it unmounts and wipes the overlay's layers")
	}
	cfg, src, err := backupSources(cmd)
	if err != nil {
		return cfg, nil, err
	}
	r, err := newResetter(cfg, src, withAgent, newLogger())
	return cfg, r, err
}

// newResetter builds the device's Resetter: its services (resetServices),
// the kept settings through the backup archive (src: the console's part
// as web.user), the reboot through systemd. The agent builds one too, to
// check and queue a run and to read its journal; it never runs one.
func newResetter(cfg config.Config, src backup.Sources, withAgent bool, log *slog.Logger) (*reset.Resetter, error) {
	services, names, none := resetServices(cfg, withAgent)
	return reset.New(reset.Config{
		Reset: cfg.Reset, Dir: cfg.ResetDir(), ChangesDir: filepath.Join(cfg.Agent.StateDir, "changes"),
		Settings: reset.BackupSettings{Sources: src, Version: version},
		Services: services, ServiceNames: names, NoServices: none,
		Reboot: func(ctx context.Context) error {
			_, err := toolrun.Run(ctx, toolrun.Options{Timeout: time.Minute}, "systemctl", "reboot")
			return err
		},
		Log: log,
	})
}

// resetServices are the services a reset stops and starts, through
// systemd (withAgent: the agent too). Where systemd is not PID 1,
// devmgr's own services are children of a supervisor that no other
// process can reach (devmgr provision's, make run's, a test's): the reset
// leaves them running and says so (none); reset.services, which it would
// have to stop, are refused before anything is touched (noSystemd).
func resetServices(cfg config.Config, withAgent bool) (services reset.Services, names []string, none string) {
	switch {
	case service.SystemdRunning():
		return &service.Systemd{}, reset.ServiceNames(cfg, withAgent), ""
	case len(cfg.Reset.Services) > 0:
		return noSystemd{}, slices.Clone(cfg.Reset.Services), ""
	}
	return nil, nil, "systemd is not PID 1 here, so no service is stopped or started: " +
		"restart the console (devmgr serve) and the agent once the reset is done"
}

// noSystemd is the service manager of reset.services where systemd is
// not PID 1: the reset cannot stop them, and says so before it touches
// anything.
type noSystemd struct{}

var errNoSystemd = errors.New("systemd is not running here: devmgr reset stops and starts reset.services through it")

func (noSystemd) Stop(context.Context, string) error  { return errNoSystemd }
func (noSystemd) Start(context.Context, string) error { return errNoSystemd }
func (noSystemd) Status(context.Context, string) (service.Status, error) {
	return service.Status{}, errNoSystemd
}

// agentRunning refuses while the agent answers on its socket.
func agentRunning(ctx context.Context, cfg config.Config) error {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "unix", cfg.Agent.Socket)
	if err != nil {
		return nil
	}
	c.Close()
	return fmt.Errorf("the agent is running (%s answers): while it runs, the reset goes through it, from the console's System page "+
		"(/system). To reset from the shell: systemctl stop devmgr-agent, devmgr reset, then systemctl start devmgr-agent", cfg.Agent.Socket)
}

func runReset(cmd *cobra.Command, keep, keepGiven bool, confirm string) error {
	ctx := cmd.Context()
	cfg, r, err := resetter(cmd, false)
	if err != nil {
		return err
	}
	if err := agentRunning(ctx, cfg); err != nil {
		return err
	}
	if !keepGiven {
		keep = cfg.Reset.KeepSettings
	}
	out := cmd.OutOrStdout()
	info := r.Info(ctx)
	describe(out, info, keep)
	if confirm == "" {
		if confirm, err = askHostname(cmd, info.Hostname); err != nil {
			return err
		}
	}
	run, err := r.Start(ctx, reset.Request{Confirm: confirm, KeepSettings: keep, User: "root"})
	if err != nil {
		return err
	}
	run = follow(ctx, out, r, run)
	audit(ctx, cfg, run)
	return report(out, run)
}

func runResetResume(cmd *cobra.Command) error {
	ctx := cmd.Context()
	// Without systemd the agent starts this as a child and reads its
	// output: a write to that pipe once the agent is gone must fail, not
	// end the reset half way (Go ends a program on SIGPIPE of fd 1 and 2).
	signal.Ignore(syscall.SIGPIPE)
	cfg, r, err := resetter(cmd, true)
	if errors.Is(err, reset.ErrNotConfigured) {
		fmt.Fprintln(cmd.OutOrStdout(), "no reset to finish: reset.mode is none")
		return nil
	}
	if err != nil {
		return err
	}
	run, ok, err := r.Resume(ctx)
	switch {
	case !ok && err == nil && run.Status == api.ResetRebooting:
		fmt.Fprintf(cmd.OutOrStdout(), "reset %s waits for the reboot\n", run.ID)
		return nil
	case !ok && err == nil:
		fmt.Fprintln(cmd.OutOrStdout(), "no reset to finish")
		return nil
	case !ok:
		return err
	}
	audit(ctx, cfg, run)
	return report(cmd.OutOrStdout(), run)
}

// describe says what a reset is about to do.
func describe(w io.Writer, info api.SystemReset, keep bool) {
	o := info.Overlay
	state := "not mounted"
	if o.Mounted {
		state = "mounted"
	}
	fmt.Fprintf(w, "factory reset of %s (reset.mode %s): the overlay at %s is %s\n", info.Hostname, info.Mode, o.Merged, state)
	fmt.Fprintf(w, "  lower (factory) %s, upper %s, work %s\n", o.Lower, o.Upper, o.Work)
	fmt.Fprintf(w, "  the upper layer holds %d files and %d directories (%d bytes): %d added, %d changed, %d deleted\n",
		o.Usage.Files, o.Usage.Dirs, o.Usage.Bytes, o.Changes.Added, o.Changes.Changed, o.Changes.Deleted)
	for _, g := range o.Changes.Groups {
		fmt.Fprintf(w, "    %-16s %d added, %d changed, %d deleted\n", g.Dir, len(g.Added), len(g.Changed), len(g.Deleted)+g.More)
	}
	if o.Problem != "" {
		fmt.Fprintf(w, "  note: %s\n", o.Problem)
	}
	if keep {
		fmt.Fprintf(w, "kept across the reset: %s\n", strings.Join(info.Kept, "; "))
	} else {
		fmt.Fprintf(w, "without --keep-settings, these go too:\n  - %s\n", strings.Join(info.Lost, "\n  - "))
	}
	if info.Mode == config.ResetRoot {
		fmt.Fprintln(w, "the device reboots; the early-boot step empties the upper layer before it is mounted")
	}
}

// askHostname asks for the host name on the terminal.
func askHostname(cmd *cobra.Command, host string) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			return "", errors.New("no terminal to ask on: give --yes --confirm HOSTNAME")
		}
		defer tty.Close()
		in = tty
	}
	fmt.Fprintf(cmd.OutOrStdout(), "type the host name (%s) to reset this device: ", host)
	line, err := bufio.NewReader(io.LimitReader(in, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// follow prints the run's events until it ends and returns it as it
// ended.
func follow(ctx context.Context, w io.Writer, r *reset.Resetter, run api.ResetRun) api.ResetRun {
	seq := 0
	for {
		evs, cur, more := r.Events(seq)
		for _, e := range evs {
			fmt.Fprintf(w, "[%3d%%] %s: %s\n", e.Percent, strings.ReplaceAll(e.Phase, "_", " "), e.Message)
			seq = e.Seq
		}
		if cur.ID == run.ID && cur.Status != api.ResetRunning {
			if done, err := r.Wait(ctx); err == nil {
				return done
			}
			return cur
		}
		select {
		case <-more:
		case <-ctx.Done():
			return cur
		}
	}
}

// report says how the run ended; a failed run is an error.
func report(w io.Writer, run api.ResetRun) error {
	if v := run.Verification; v != nil {
		fmt.Fprintln(w, "verification:")
		for _, c := range v.Checks {
			mark := "ok"
			if !c.OK {
				mark = "FAILED"
			}
			fmt.Fprintf(w, "  %-10s %-6s %s\n", c.Name, mark, c.Detail)
		}
	}
	switch run.Status {
	case api.ResetDone:
		fmt.Fprintf(w, "reset %s done\n", run.ID)
		if !run.KeepSettings {
			fmt.Fprintln(w, "the console starts afresh: its new admin password is written to initial-admin-password in data_dir")
		}
		return nil
	case api.ResetRebooting:
		fmt.Fprintf(w, "reset %s: rebooting; devmgr-reset.service finishes it after the boot\n", run.ID)
		return nil
	}
	for _, h := range run.Holders {
		fmt.Fprintf(w, "  held by %s (pid %d): %s\n", h.Command, h.PID, strings.Join(h.Uses, ", "))
	}
	msg := run.Error
	if run.Hint != "" {
		msg += "\n" + run.Hint
	}
	return errors.New(msg)
}

// audit records the run in the agent's audit log.
func audit(ctx context.Context, cfg config.Config, run api.ResetRun) {
	add, done, err := agentAudit(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devmgr: the reset is not in the agent's audit log:", err)
		return
	}
	defer done()
	e := auditlog.Entry{User: run.User, Source: "local", Action: api.ActReset, Target: run.Mode, Result: auditlog.ResultOK,
		Detail: fmt.Sprintf("reset %s: %s (keep settings: %s)", run.ID, run.Status, yesNo(run.KeepSettings))}
	if run.Status == api.ResetFailed {
		e.Result, e.Detail = auditlog.ResultFailed, e.Detail+": "+run.Error
	}
	if err := add(ctx, e); err != nil {
		fmt.Fprintln(os.Stderr, "devmgr: the reset is not in the agent's audit log:", err)
	}
}
