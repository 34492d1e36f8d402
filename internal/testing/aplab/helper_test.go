package aplab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/provision"
	"github.com/devmgr/devmgr/internal/service"
)

// The test binary plays two more parts, chosen by roleEnv in TestMain: the
// device (run under unshare in the lab's device namespace) and udhcpc's
// hook script (so no shell script is needed to apply a lease).
const (
	roleEnv    = "DEVMGR_APLAB_ROLE"
	roleDevice = "device"
	roleHook   = "udhcpc-hook"
	// dirEnv is the device's work directory: overlay layers, config, binary.
	dirEnv = "DEVMGR_APLAB_DIR"
	// replyPrefix marks the device's answers on its stdout.
	replyPrefix = "APLAB-REPLY "
)

// Commands the test sends to the device, one a line on its stdin.
const (
	cmdProvision = "provision" // provision.Run with the config file as it is now
	cmdLeases    = "leases"    // the AP's dnsmasq leases
	cmdStatus    = "status"    // the services' states and last output
	cmdQuit      = "quit"      // stop the services and exit (also on EOF)
)

// reply is the device's answer to one command.
type reply struct {
	Command string `json:"command"`
	// Provisioning.
	Changed    []string          `json:"changed,omitempty"`
	Removed    []string          `json:"removed,omitempty"`
	Output     string            `json:"output,omitempty"`
	Err        string            `json:"err,omitempty"`
	NotRunning map[string]string `json:"not_running,omitempty"` // service: message
	OtherErrs  []string          `json:"other_errs,omitempty"`
	// Touched are the installed files whose modification time (or
	// existence) changed during the run.
	Touched  []string          `json:"touched,omitempty"`
	Services map[string]status `json:"services,omitempty"`
	// Leases.
	Leases []dnsmasq.Lease `json:"leases,omitempty"`
	// Failure of the command itself.
	Fatal string `json:"fatal,omitempty"`
}

type status struct {
	State  string   `json:"state"`
	PID    int      `json:"pid"`
	Output []string `json:"output,omitempty"` // the last lines
}

// deviceMain runs inside new mount and pid namespaces in the lab's device
// network namespace. It overlays /etc and /var, mounts a tmpfs on /run,
// then provisions "/" on command and keeps the supervised services (the
// AP's dnsmasq, the agent, the console) running until told to quit.
func deviceMain() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := os.Getenv(dirEnv)
	if err := setupMounts(dir); err != nil {
		log.Error("preparing the device's file system", "err", err)
		return 2
	}
	var sup *service.Supervisor
	defer func() {
		if sup == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := sup.StopAll(ctx); err != nil {
			log.Error("stopping services", "err", err)
		}
	}()
	opts := func() provision.Options {
		return provision.Options{
			Root: "/", Binary: filepath.Join(dir, "devmgr"), ConfigPath: configPath(dir),
			Log: log, Settle: time.Second,
		}
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd := strings.TrimSpace(in.Text())
		r := reply{Command: cmd}
		switch cmd {
		case cmdQuit:
			return 0
		case cmdProvision:
			c, err := config.Load(configPath(dir))
			if err != nil {
				r.Fatal = err.Error()
				break
			}
			o := opts()
			if sup == nil {
				// One supervisor for the device's life, as `devmgr
				// provision` keeps one while it runs.
				sup, err = service.NewSupervisor(service.SupervisorConfig{Log: log}, provision.Specs(c, o)...)
				if err != nil {
					r.Fatal = err.Error()
					break
				}
			}
			o.Services = sup
			r = runProvision(c, o, sup)
		case cmdStatus:
			if sup == nil {
				r.Fatal = "no services: not provisioned yet"
				break
			}
			r.Services = statuses(sup)
		case cmdLeases:
			l, err := dnsmasq.ReadLeases(dnsmasq.DefaultLeaseFile)
			if err != nil {
				r.Fatal = err.Error()
			}
			r.Leases = l
		default:
			r.Fatal = fmt.Sprintf("unknown command %q", cmd)
		}
		b, _ := json.Marshal(r)
		fmt.Printf("%s%s\n", replyPrefix, b)
	}
	return 0
}

func configPath(dir string) string { return filepath.Join(dir, "devmgr.yaml") }

// setupMounts makes / private, overlays /etc and /var with upper layers in
// dir and mounts a tmpfs on /run, so what provisioning writes stays in dir.
func setupMounts(dir string) error {
	if dir == "" {
		return fmt.Errorf("%s is not set", dirEnv)
	}
	if os.Getpid() != 1 {
		return errors.New("not in a new pid namespace: refusing to mount over /etc")
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	for _, d := range []string{"etc", "var"} {
		up, work := filepath.Join(dir, d+"-upper"), filepath.Join(dir, d+"-work")
		for _, p := range []string{up, work} {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		}
		opts := "lowerdir=/" + d + ",upperdir=" + up + ",workdir=" + work
		if err := syscall.Mount("overlay", "/"+d, "overlay", 0, opts); err != nil {
			return fmt.Errorf("mounting overlay on /%s (%s): %w", d, opts, err)
		}
	}
	if err := syscall.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mounting tmpfs on /run: %w", err)
	}
	return nil
}

// runProvision runs provision.Run once and describes what it did.
func runProvision(c config.Config, o provision.Options, sup *service.Supervisor) reply {
	r := reply{Command: cmdProvision}
	files, err := provision.Plan(c, o)
	if err != nil {
		r.Fatal = err.Error()
		return r
	}
	before := mtimes(files)
	var out strings.Builder
	o.Stdout = &out
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := provision.Run(ctx, c, o)
	r.Changed, r.Removed, r.Output = res.Changed, res.Removed, out.String()
	if err != nil {
		r.Err = err.Error()
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			var nr *provision.NotRunningError
			if errors.As(e, &nr) {
				if r.NotRunning == nil {
					r.NotRunning = map[string]string{}
				}
				r.NotRunning[nr.Service] = e.Error()
				continue
			}
			r.OtherErrs = append(r.OtherErrs, e.Error())
		}
	}
	after := mtimes(files)
	for _, f := range files {
		if before[f.Path] != after[f.Path] {
			r.Touched = append(r.Touched, f.Path)
		}
	}
	r.Services = statuses(sup)
	return r
}

// statuses describes every supervised service.
func statuses(sup *service.Supervisor) map[string]status {
	m := map[string]status{}
	for _, name := range sup.Names() {
		st, err := sup.Status(context.Background(), name)
		if err != nil {
			m[name] = status{State: "error: " + err.Error()}
			continue
		}
		m[name] = status{State: string(st.State), PID: st.PID, Output: st.Output[max(0, len(st.Output)-8):]}
	}
	return m
}

// mtimes maps each file's path to its modification time ("" if missing).
func mtimes(files []provision.File) map[string]string {
	m := map[string]string{}
	for _, f := range files {
		if st, err := os.Stat(f.Path); err == nil {
			m[f.Path] = st.ModTime().Format(time.RFC3339Nano)
		}
	}
	return m
}

// hookMain is udhcpc's script: on bound or renew it puts the leased
// address on the interface and the default route via the router, in the
// namespace udhcpc runs in, and prints what it applied.
func hookMain() int {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "udhcpc hook: no event")
		return 2
	}
	event := os.Args[1]
	if event != "bound" && event != "renew" {
		fmt.Printf("udhcpc event %s\n", event)
		return 0
	}
	iface, ip, mask, router := os.Getenv("interface"), os.Getenv("ip"), os.Getenv("mask"), os.Getenv("router")
	if err := applyLease(iface, ip, mask, router); err != nil {
		fmt.Fprintf(os.Stderr, "udhcpc hook: %v\n", err)
		return 1
	}
	fmt.Printf("udhcpc %s %s/%s router %s on %s\n", event, ip, mask, router, iface)
	return 0
}

func applyLease(iface, ip, mask, router string) error {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("finding %q: %w", iface, err)
	}
	addr, err := netlink.ParseAddr(ip + "/" + mask)
	if err != nil {
		return fmt.Errorf("parsing leased address %q/%q: %w", ip, mask, err)
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("adding %s to %s: %w", addr, iface, err)
	}
	if router == "" {
		return nil
	}
	gw := net.ParseIP(strings.Fields(router)[0])
	if gw == nil {
		return fmt.Errorf("parsing router %q", router)
	}
	if err := netlink.RouteReplace(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw}); err != nil {
		return fmt.Errorf("adding default route via %s on %s: %w", gw, iface, err)
	}
	return nil
}
