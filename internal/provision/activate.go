package provision

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	osuser "os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/firewall"
	"github.com/devmgr/devmgr/internal/service"
)

// StartOrder is the order Run starts devmgr's long-running services in.
var StartOrder = []string{device.UnitHostapd, device.UnitDnsmasq, device.UnitAgent, device.UnitWeb}

// Specs are the services as the supervisor runs them, in StartOrder: the
// same commands as the systemd units.
func Specs(c config.Config, o Options) []service.Spec {
	o = o.withDefaults()
	return []service.Spec{
		{Name: device.UnitHostapd, Argv: []string{o.Hostapd, device.HostapdConf}},
		{Name: device.UnitDnsmasq, Argv: []string{o.Dnsmasq, "--keep-in-foreground", "--log-facility=-", "--conf-file=" + device.DnsmasqConf}},
		{Name: device.UnitAgent, Argv: []string{o.Binary, "agent", "--config", o.ConfigPath}},
		{Name: device.UnitWeb, Argv: []string{o.Binary, "serve", "--config", o.ConfigPath}, User: c.Web.User,
			AmbientCaps: []uintptr{service.CapNetBindService}},
	}
}

// activate makes the running system match the installed files: IP
// forwarding, the ruleset, the web console's account and directories, the
// AP address when no systemd-networkd does it, and the services.
func activate(ctx context.Context, c config.Config, o Options, files []File, changes []change) error {
	changed := map[string]bool{}
	var networkChanged bool
	for _, ch := range changes {
		for _, u := range ch.file.Units {
			changed[u] = true
		}
		if strings.HasPrefix(ch.file.Path, device.NetworkDir+"/") {
			networkChanged = true
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("enabling IPv4 forwarding: %w", err)
	}
	for _, f := range files {
		if f.Path == device.NftRuleset {
			if err := firewall.Apply(ctx, f.Content); err != nil {
				return err
			}
		}
	}
	if err := accountAndDirs(ctx, o); err != nil {
		return err
	}
	if err := makeStateDir(c.Agent.StateDir); err != nil {
		return err
	}
	if err := shareConfig(o.ConfigPath, c.Web.User, o); err != nil {
		return err
	}
	if err := activateReset(ctx, c, o, changes); err != nil {
		return err
	}
	if o.Services == nil {
		o.Log.Info("no service manager: services left alone")
		return nil
	}
	_, systemd := o.Services.(service.Reloader)
	if systemd {
		started, err := ensureNetworkd(ctx, o)
		if err != nil {
			return err
		}
		if networkChanged && !started {
			if out, err := runTool(ctx, "networkctl", "reload"); err != nil {
				o.Log.Warn("systemd-networkd did not reload; the AP address applies after a reboot", "err", err, "output", string(out))
			}
		}
		if slices.ContainsFunc(changes, func(ch change) bool { return strings.HasPrefix(ch.file.Path, device.UnitDir+"/") }) {
			if err := o.Services.(service.Reloader).Reload(ctx); err != nil {
				return err
			}
		}
		enable, start := resetUnits(c)
		for _, u := range enable {
			if err := o.Services.Enable(ctx, u); err != nil {
				return err
			}
		}
		for _, u := range start {
			if err := o.Services.Start(ctx, u); err != nil {
				return err
			}
		}
	} else if err := setAPAddress(c); err != nil {
		return err
	}
	return startServices(ctx, o, changed, systemd)
}

// accountAndDirs creates the console's user and the directories of
// tmpfiles.d/devmgr.conf with systemd's own tools (they work without
// systemd as PID 1).
func accountAndDirs(ctx context.Context, o Options) error {
	for _, argv := range [][]string{{"systemd-sysusers", device.SysusersConf}, {"systemd-tmpfiles", "--create", device.TmpfilesConf}} {
		bin, err := lookTool(argv[0])
		if err != nil {
			o.Log.Warn("cannot create the console's account and directories", "err", err)
			continue
		}
		if _, err := runTool(ctx, append([]string{bin}, argv[1:]...)...); err != nil {
			return fmt.Errorf("creating the console's account and directories: %w", err)
		}
	}
	return nil
}

// makeStateDir makes the agent's state directory root:root 0700, or
// corrects the owner and mode of one that exists, as tmpfiles.d/devmgr.conf
// does, also where systemd-tmpfiles is missing. The agent refuses to start
// with a state directory others can open.
func makeStateDir(dir string) error { return MakeRootDir(dir, "the agent's state directory") }

// MakeRootDir makes dir root:root 0700 (what names it in errors), or
// corrects the owner and mode of one that exists. A symlink in its place
// is refused, never followed.
func MakeRootDir(dir, what string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("creating %s %s: %w", what, dir, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating %s %s: %w", what, dir, err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if st, lerr := os.Lstat(dir); lerr == nil && !st.IsDir() {
			return fmt.Errorf("%s %s is not a directory (%s); move it away first", what, dir, st.Mode().Type())
		}
		return fmt.Errorf("opening %s %s: %w", what, dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Fchown(fd, 0, 0); err != nil {
		return fmt.Errorf("making %s %s root's: %w", what, dir, err)
	}
	if err := unix.Fchmod(fd, 0o700); err != nil {
		return fmt.Errorf("setting mode 0700 on %s %s: %w", what, dir, err)
	}
	return nil
}

// shareConfig lets the console's group read the config file (it holds the
// AP passphrase, so not everyone): root:<user> 0640.
func shareConfig(path, user string, o Options) error {
	g, err := osuser.LookupGroup(user)
	if err != nil {
		o.Log.Warn("config file not shared with the console", "group", user, "err", err)
		return nil
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return fmt.Errorf("group %s: %w", user, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("sharing config with the console: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	mode := st.Mode().Perm()&^0o027 | 0o040
	if ok && int(sys.Gid) == gid && st.Mode().Perm() == mode {
		return nil
	}
	if err := os.Chown(path, -1, gid); err != nil {
		return fmt.Errorf("sharing config with the console: %w", err)
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("sharing config with the console: %w", err)
	}
	o.Log.Info("config file readable by the console", "path", path, "group", user, "mode", fmt.Sprintf("%#o", mode))
	return nil
}

// startServices enables every service, restarts those whose files
// changed, starts those that are not running, and then says why hostapd
// or dnsmasq does not stay up.
func startServices(ctx context.Context, o Options, changed map[string]bool, systemd bool) error {
	m := o.Services
	names := StartOrder
	if systemd {
		// Without systemd, the agent's own ticker makes the scheduled
		// backups (internal/backup).
		names = append(append([]string{device.UnitFirewall}, StartOrder...), device.UnitBackupTimer)
	}
	var errs []error
	restarts := map[string]int{}
	for _, name := range names {
		if err := m.Enable(ctx, name); err != nil {
			errs = append(errs, err)
			continue
		}
		if name == device.UnitFirewall {
			continue // the ruleset was just applied; enabled for boot
		}
		st, err := m.Status(ctx, name)
		switch {
		case err == nil && st.Running() && !changed[name]:
			o.Log.Info("service already running", "service", name)
		case err == nil && st.Running():
			o.Log.Info("restarting service", "service", name)
			err = m.Restart(ctx, name)
		default:
			o.Log.Info("starting service", "service", name)
			err = m.Start(ctx, name)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st, err := m.Status(ctx, name); err == nil {
			restarts[name] = st.Restarts
		}
	}
	select {
	case <-time.After(o.Settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, name := range []string{device.UnitHostapd, device.UnitDnsmasq} {
		st, err := m.Status(ctx, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st.Running() && st.Restarts == restarts[name] {
			fmt.Fprintf(o.Stdout, "%s: running (pid %d)\n", name, st.PID)
			continue
		}
		errs = append(errs, &NotRunningError{Service: name, Status: st})
	}
	return errors.Join(errs...)
}

// NotRunningError is a service that did not start or does not stay up;
// its message says why, from the daemon's own output.
type NotRunningError struct {
	Service string
	Status  service.Status
}

func (e *NotRunningError) Error() string {
	out := strings.Join(e.Status.Output, "\n")
	var why string
	switch e.Service {
	case device.UnitHostapd:
		why = ExplainHostapd(out)
	case device.UnitDnsmasq:
		why = ExplainDnsmasq(out)
	}
	state := "not running (" + string(e.Status.State) + ")"
	if e.Status.Running() || e.Status.State == service.StateStarting {
		state = fmt.Sprintf("not staying up (restarted %d times)", e.Status.Restarts)
	}
	msg := fmt.Sprintf("%s is %s", e.Service, state)
	if e.Status.LastExit != "" {
		msg += " (last exit: " + e.Status.LastExit + ")"
	}
	if why != "" {
		msg += ": " + why
	}
	if n := len(e.Status.Output); n > 0 {
		tail := e.Status.Output[max(0, n-8):]
		msg += "\n  its last output:\n    " + strings.Join(tail, "\n    ")
	}
	return msg
}
