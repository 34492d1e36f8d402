// Package devrun is the development runner behind `make run`
// (cmd/devmgr-dev): as root a network-namespace lab (internal/testing/lab)
// with `devmgr agent` in its device namespace and `devmgr serve` in this
// namespace as the unprivileged web user; without root the console alone.
// Both are children of a service.Supervisor. It is never linked into the
// device binary.
//
// In the lab the access point is a stand-in (StandIn): hostapdtest's
// server on the control socket the agent is given, whose stations are the
// lab's WiFi-client namespaces, which lease their addresses from the AP's
// dnsmasq with devmgr's DHCP client. The agent runs with an overlay on
// /etc (etcLayer), so what it writes there as on a device (hostapd's
// config and deny list) lands under DIR/lab, where the stand-in reads it,
// and never in this machine's /etc.
package devrun

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/devmgr/devmgr/internal/accounts"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/service"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/toolrun"
)

// Defaults of Options (and so of `make run`).
const (
	DefaultDir    = "./var"
	DefaultListen = "127.0.0.1:8443"
	DefaultUser   = "devmgr"
	DefaultPrefix = "dmrun"
	// Ready is printed on Out once everything runs (tests wait for it).
	Ready = "devmgr dev run: ready"
	// notRoot is printed when there is no root: no lab, no agent.
	notRoot = "not root: the network lab and agent are off; network pages are read-only/unavailable"
)

// Names of the supervised children.
const (
	serveName = "serve"
	agentName = "agent"
)

// stopTimeout is how long a child has between SIGTERM and SIGKILL.
const stopTimeout = 10 * time.Second

// configHeader starts the generated config files.
const configHeader = "# Generated for the network-namespace lab; rewritten on every start.\n"

// Options say what Run runs.
type Options struct {
	// Dir holds the generated config, the data (Dir/data) and the agent
	// socket (Dir/run).
	Dir string
	// Listen is web.listen of the console.
	Listen string
	// User is the account the console runs as when Run runs as root
	// (created if missing).
	User string
	// Prefix names the lab's network namespaces.
	Prefix string
	// Devmgr is the devmgr binary run for serve and agent.
	Devmgr string
	// Self is the program run as User for the probe (Probe behind its
	// `probe` command); default: the running executable.
	Self string
	// Out gets the banner and the Ready line; Err the children's output,
	// each line after its name.
	Out, Err io.Writer
	Log      *slog.Logger
}

// runner is one Run.
type runner struct {
	Options
	dataDir, runDir string
	sup             *service.Supervisor
	outMu           sync.Mutex
}

// Run runs the console (and as root the lab and the agent) until ctx is
// done (nil) or a child exits (its error).
func Run(ctx context.Context, o Options) error {
	if o.Devmgr == "" || o.Out == nil || o.Err == nil || o.Log == nil {
		return errors.New("devrun: Options.Devmgr, Out, Err and Log are required")
	}
	// A closed terminal stops the run as Ctrl-C does.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP)
	defer stop()
	r := &runner{Options: o}
	var err error
	if r.Devmgr, err = absProgram(r.Devmgr); err != nil {
		return fmt.Errorf("finding the devmgr binary: %w", err)
	}
	if r.Self == "" {
		if r.Self, err = os.Executable(); err != nil {
			return fmt.Errorf("finding this program: %w", err)
		}
	}
	if r.Self, err = absProgram(r.Self); err != nil {
		return fmt.Errorf("finding this program: %w", err)
	}
	if r.Dir, err = filepath.Abs(r.Dir); err != nil {
		return err
	}
	r.dataDir = filepath.Join(r.Dir, "data")
	r.runDir = filepath.Join(r.Dir, "run")
	if _, _, err := net.SplitHostPort(r.Listen); err != nil {
		return fmt.Errorf("--listen %q: %w", r.Listen, err)
	}
	if err := checkListen(r.Listen); err != nil {
		return err
	}
	// Only the children's own output is shown: an exit is this run's error.
	r.sup, err = service.NewSupervisor(service.SupervisorConfig{Log: slog.New(slog.DiscardHandler), StopTimeout: stopTimeout})
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return r.runUnprivileged(ctx)
	}
	return r.runLab(ctx)
}

func absProgram(p string) (string, error) {
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if p, err = filepath.EvalSymlinks(p); err != nil {
		return "", err
	}
	return p, nil
}

// runUnprivileged serves the console as the current user, without the agent.
func (r *runner) runUnprivileged(ctx context.Context) error {
	fmt.Fprintln(r.Out, notRoot)
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(r.dataDir, 0o700); err != nil {
		return err
	}
	if err := syscall.Access(r.dataDir, 0o3); err != nil { // W_OK|X_OK
		return fmt.Errorf("%s is not writable by you (%w): a `make run` as root gives it to the %s user; "+
			"run `sudo make run`, or take it back with `sudo chown -R $(id -u):$(id -g) %s`",
			rel(r.dataDir), err, r.User, rel(r.dataDir))
	}
	cfg := config.Default()
	cfg.DataDir = r.dataDir
	cfg.Agent.Socket = filepath.Join(r.runDir, "agent.sock")
	cfg.Web.Listen = r.Listen
	if u, err := user.Current(); err == nil {
		cfg.Web.User = u.Username
	}
	cfgPath := filepath.Join(r.Dir, "dev.yaml")
	if err := config.Write(cfgPath, cfg, configHeader); err != nil {
		return err
	}
	serve, err := r.start(ctx, service.Spec{Name: serveName, Argv: []string{r.Devmgr, "serve", "--config", cfgPath}})
	if err != nil {
		return err
	}
	defer r.stop(serveName)
	if err := r.waitConsole(ctx, serve); err != nil {
		return ignoreCanceled(ctx, err)
	}
	r.banner(cfgPath, nil)
	return r.wait(ctx, serve)
}

// runLab is the root case: lab, agent in its device namespace, console as r.User.
func (r *runner) runLab(ctx context.Context) error {
	if err := ensureSystemUser(r.User, r.Out); err != nil {
		return err
	}
	cred, err := service.UserCredential(r.User)
	if err != nil {
		return err
	}
	if err := r.prepareDirs(cred); err != nil {
		return err
	}
	if err := lab.CleanStale(r.Prefix); err != nil {
		r.Log.Warn("removing a stale lab", "err", err)
	}
	l, err := lab.New(ctx, r.Log, lab.Options{Prefix: r.Prefix, UplinkStatic: true, Forwarding: true, WiFiDHCP: true})
	if err != nil {
		return ignoreCanceled(ctx, fmt.Errorf("building the lab: %w", err))
	}
	defer func() {
		if err := l.Close(); err != nil {
			r.Log.Error("removing the lab", "err", err)
		}
	}()
	clients, stopClients, err := leaseWiFiClients(ctx, l, r.Log.With("component", "wifi-client"))
	if err != nil {
		return ignoreCanceled(ctx, err)
	}
	defer stopClients()

	cfg := l.Config(r.dataDir)
	cfg.Agent.Socket = filepath.Join(r.runDir, "agent.sock")
	cfg.Agent.StateDir = filepath.Join(r.Dir, "agent") // root:root 0700, made by the agent
	cfg.Web.Listen = r.Listen
	cfg.Web.User = r.User
	cfgPath := filepath.Join(r.Dir, "lab.yaml")
	if err := config.Write(cfgPath, cfg, configHeader); err != nil {
		return err
	}

	// The console first: the agent's own state is apart (agent.state_dir),
	// and the console is to answer before the agent is probed.
	serve, err := r.start(ctx, service.Spec{Name: serveName, Argv: []string{r.Devmgr, "serve", "--config", cfgPath}, User: r.User})
	if err != nil {
		return err
	}
	defer r.stop(serveName)
	if err := r.waitConsole(ctx, serve); err != nil {
		return ignoreCanceled(ctx, err)
	}

	// The AP: the stand-in hostapd on the control socket the agent is
	// given, reading what the agent writes to its /etc (an overlay).
	ctrlDir := filepath.Join(r.runDir, "hostapd")
	etc := newEtcLayer(r.Dir)
	if err := etc.prepare(cfg.AP, ctrlDir); err != nil {
		return fmt.Errorf("preparing the agent's /etc: %w", err)
	}
	bssid, err := l.MAC(lab.Device, cfg.AP.Interface)
	if err != nil {
		return err
	}
	ap, err := startStandIn(filepath.Join(ctrlDir, cfg.AP.Interface), etc.root, bssid, clients, r.Log.With("component", "stand-in-ap"))
	if err != nil {
		return fmt.Errorf("starting the stand-in access point: %w", err)
	}
	defer ap.Close()

	ip, err := toolrun.LookPath("ip")
	if err != nil {
		return err
	}
	agentArgv := append([]string{ip, "netns", "exec", l.NS(lab.Device)}, etc.argv(r.Self, r.Devmgr, "agent",
		"--config", cfgPath,
		"--leases", l.APLeaseFile(),
		"--hostapd-ctrl", ctrlDir,
		"--dns-servers", filepath.Join(r.runDir, "dns-servers"),
		"--dnsmasq-pid", filepath.Join(r.runDir, "dnsmasq.pid"),
	)...)
	ag, err := r.start(ctx, service.Spec{Name: agentName, Argv: agentArgv})
	if err != nil {
		return err
	}
	defer func() {
		r.stop(serveName) // first: the console has no agent to lose then
		r.stop(agentName)
	}()
	if err := r.waitAgent(ctx, ag, cfg.Agent.Socket); err != nil {
		return ignoreCanceled(ctx, err)
	}
	// What the console will do: reach the agent as the web user.
	names, err := r.probeAs(ctx, cred, cfg.Agent.Socket)
	if err != nil {
		return ignoreCanceled(ctx, err)
	}
	r.banner(cfgPath, func() {
		fmt.Fprintf(r.Out, "lab %s-%s: agent in namespace %s (as root), console here as user %s; agent sees %s\n",
			r.Prefix, l.ID(), l.NS(lab.Device), r.User, strings.Join(names, ", "))
		fmt.Fprintf(r.Out, "lab namespaces: ip netns list | grep %s-%s   (ip netns exec %s ip addr)\n",
			r.Prefix, l.ID(), l.NS(lab.Device))
		r.labAddresses(clients)
		fmt.Fprintln(r.Out, StandIn+".")
		fmt.Fprintf(r.Out, "the agent's /etc is this machine's with %s on top (hostapd's config, resolv.conf)\n", rel(etc.upper))
		if _, err := toolrun.LookPath("hostapd"); err != nil {
			fmt.Fprintln(r.Out, "note: hostapd is not installed: an AP settings change needs its parser (apt-get install hostapd)")
		}
	})
	return r.wait(ctx, serve, ag)
}

// labAddresses lists what Diagnostics can try from the device.
func (r *runner) labAddresses(clients []wifiClient) {
	fmt.Fprintf(r.Out, "lab addresses to try in Diagnostics: upstream %s (DNS: %s, the default server; HTTP %s:%d)\n",
		lab.UpstreamIP, lab.UpstreamName, lab.UpstreamIP, lab.HTTPPort)
	fmt.Fprintf(r.Out, "  LAN host %s (once eth1 has %s, set on the Network page)\n", lab.LANHostIP, lab.LANDeviceAddr)
	var wifi []string
	for _, c := range clients {
		wifi = append(wifi, fmt.Sprintf("%s %s (%s)", c.role, c.addr, c.mac))
	}
	fmt.Fprintf(r.Out, "  WiFi clients %s, leased from the AP's dnsmasq on %s\n", strings.Join(wifi, ", "), lab.APIP)
}

// prepareDirs lays out r.Dir: DIR (0755, config), DIR/run (0755, root:
// the agent's socket), DIR/data (0700, the web user: database, TLS pair,
// first password). The agent's own files in DIR/data stay root's.
func (r *runner) prepareDirs(cred *syscall.Credential) error {
	for _, d := range []string{r.Dir, r.runDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		// An older `make run` used DIR itself as data_dir (0700).
		if st.Mode().Perm()&0o055 != 0o055 {
			if err := os.Chmod(d, st.Mode().Perm()|0o755); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(r.dataDir, 0o700); err != nil {
		return err
	}
	r.moveOldData()
	uid, gid := int(cred.Uid), int(cred.Gid)
	if err := os.Lchown(r.dataDir, uid, gid); err != nil {
		return err
	}
	if err := os.Chmod(r.dataDir, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(r.dataDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, store.FileName) && n != accounts.InitialPasswordFile && n != "tls" {
			continue // e.g. network/: the agent's journal, root's
		}
		err := filepath.WalkDir(filepath.Join(r.dataDir, n), func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil {
			return fmt.Errorf("giving %s to %s: %w", rel(filepath.Join(r.dataDir, n)), r.User, err)
		}
	}
	for _, p := range []string{r.dataDir, r.runDir, r.Devmgr, r.Self} {
		if bad, mode := BlockedFor(p, cred); bad != "" {
			return fmt.Errorf("user %s cannot enter %s (mode %04o), on the way to %s: run `chmod o+x %s`, "+
				"or keep the repository where other users can enter", r.User, bad, mode, p, bad)
		}
	}
	return nil
}

// moveOldData moves the database of an older `make run` (data_dir DIR)
// into DIR/data, when DIR/data has none.
func (r *runner) moveOldData() {
	if _, err := os.Stat(filepath.Join(r.dataDir, store.FileName)); err == nil {
		return
	}
	if _, err := os.Stat(filepath.Join(r.Dir, store.FileName)); err != nil {
		return
	}
	for _, n := range []string{store.FileName, store.FileName + "-wal", store.FileName + "-shm", accounts.InitialPasswordFile, "tls"} {
		if err := os.Rename(filepath.Join(r.Dir, n), filepath.Join(r.dataDir, n)); err == nil {
			r.Log.Info("moved into the data directory", "file", n, "to", rel(r.dataDir))
		}
	}
}

// start starts a child that runs once (its exit ends the run), in the
// environment of this process less DEVMGR_CONFIG, its output on r.Err
// after its name. It returns the channel closed when the child has ended.
func (r *runner) start(ctx context.Context, sp service.Spec) (<-chan struct{}, error) {
	sp.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "DEVMGR_CONFIG=") })
	sp.Once = true
	sp.Output = &prefixWriter{mu: &r.outMu, w: r.Err, prefix: sp.Name + " | "}
	if err := r.sup.Add(sp); err != nil {
		return nil, err
	}
	if err := r.sup.Start(ctx, sp.Name); err != nil {
		return nil, err
	}
	done, err := r.sup.Exited(sp.Name)
	if err != nil {
		return nil, err
	}
	if done == nil { // it has ended already
		ch := make(chan struct{})
		close(ch)
		done = ch
	}
	return done, nil
}

// stop stops a child: SIGTERM to its process group, SIGKILL after stopTimeout.
func (r *runner) stop(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*stopTimeout)
	defer cancel()
	if err := r.sup.Stop(ctx, name); err != nil {
		r.Log.Error("stopping", "child", name, "err", err)
	}
}

// exited is the error of a child that ended by itself.
func (r *runner) exited(name string) error {
	st, err := r.sup.Status(context.Background(), name)
	if err != nil || st.LastExit == "" || st.LastExit == "exit status 0" {
		return fmt.Errorf("%s exited", name)
	}
	return fmt.Errorf("%s exited: %s", name, st.LastExit)
}

// wait runs until ctx is done (nil) or a child exits (its error).
func (r *runner) wait(ctx context.Context, children ...<-chan struct{}) error {
	names := []string{serveName, agentName}
	ended := make(chan string, len(children))
	for i, c := range children {
		go func() {
			select {
			case <-c:
				ended <- names[i]
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(r.Out, "stopping")
		return nil
	case name := <-ended:
		return fmt.Errorf("%w; stopping the rest", r.exited(name))
	}
}

func ignoreCanceled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// consoleURL is the console's base URL as seen from this host.
func (r *runner) consoleURL() string {
	host, port, _ := net.SplitHostPort(r.Listen)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, port)
}

// waitConsole waits until /healthz answers 200.
func (r *runner) waitConsole(ctx context.Context, done <-chan struct{}) error {
	hc := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // its own self-signed pair
	}
	defer hc.CloseIdleConnections()
	return r.poll(ctx, serveName, done, 60*time.Second, "the console to answer on "+r.consoleURL()+"/healthz", func() bool {
		resp, err := hc.Get(r.consoleURL() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// waitAgent waits until the agent answers on its socket.
func (r *runner) waitAgent(ctx context.Context, done <-chan struct{}, socket string) error {
	cl := agentclient.New(socket)
	defer cl.Close()
	return r.poll(ctx, agentName, done, 60*time.Second, "the agent to answer on "+rel(socket), func() bool {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := cl.Health(hctx)
		return err == nil
	})
}

func (r *runner) poll(ctx context.Context, name string, done <-chan struct{}, timeout time.Duration, what string, ok func() bool) error {
	deadline := time.After(timeout)
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return r.exited(name)
		case <-deadline:
			return fmt.Errorf("waited %s for %s", timeout, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// banner says where the console is and how to sign in.
func (r *runner) banner(cfgPath string, extra func()) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	fmt.Fprintf(r.Out, "devmgr console: %s  (self-signed certificate: accept it in the browser)\n", r.consoleURL())
	pw := filepath.Join(r.dataDir, accounts.InitialPasswordFile)
	if _, err := os.Stat(pw); err == nil {
		fmt.Fprintf(r.Out, "first sign-in: user admin, password in %s (you choose a new one at once)\n", rel(pw))
	} else {
		fmt.Fprintf(r.Out, "sign in with your account (the data is in %s)\n", rel(r.dataDir))
	}
	fmt.Fprintf(r.Out, "config: %s\n", rel(cfgPath))
	if extra != nil {
		extra()
	}
	fmt.Fprintln(r.Out, "Ctrl-C stops everything (console, agent, lab).")
	fmt.Fprintln(r.Out, Ready)
}

// rel shows p relative to the working directory when it is under it.
func rel(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if rp, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rp, "..") {
		return rp
	}
	return p
}

// prefixWriter writes whole lines, each after prefix.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := slices.Index(p.buf, '\n')
		if i < 0 {
			break
		}
		_, _ = fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// flush writes an unfinished last line.
func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		_, _ = fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.buf = nil
	}
}
