package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/agent"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/web"
)

// newDevCmd is the hidden `devmgr dev` group: what `make run` runs.
func newDevCmd() *cobra.Command {
	dev := &cobra.Command{
		Use:    "dev",
		Short:  "development helpers (make run)",
		Hidden: true,
		Args:   cobra.NoArgs,
	}
	dev.AddCommand(newDevRunCmd(), newDevProbeCmd())
	return dev
}

// Defaults of `devmgr dev run` (and so of `make run`).
const (
	devDefaultDir    = "./var"
	devDefaultListen = "127.0.0.1:8443"
	devDefaultUser   = "devmgr"
	devDefaultPrefix = "dmrun"
	// devReady is printed on stdout once everything runs (tests wait for it).
	devReady = "devmgr dev run: ready"
	// devNotRoot is printed when there is no root: no lab, no agent.
	devNotRoot = "not root: the network lab and agent are off; network pages are read-only/unavailable"
)

func newDevRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "run the console, and as root the agent in a network-namespace lab, until Ctrl-C",
		Long: "As root: builds a network-namespace lab (a simulated device), runs `devmgr agent`\n" +
			"inside its device namespace and `devmgr serve` in this namespace as the unprivileged\n" +
			"web user, talking over the agent's socket under DIR/run. Without root: only the\n" +
			"console, as the current user, with the agent off. Ctrl-C or SIGTERM stops both and\n" +
			"removes the lab; a lab left by a crashed run is removed at start.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			var r devRun
			r.dir, _ = f.GetString("dir")
			r.listen, _ = f.GetString("listen")
			r.user, _ = f.GetString("user")
			r.prefix, _ = f.GetString("prefix")
			r.out = cmd.OutOrStdout()
			r.log = newLogger().With("component", "dev-run")
			return r.run(cmd.Context())
		},
	}
	cmd.Flags().String("dir", devDefaultDir, "directory for the generated config, data (DIR/data) and the agent socket (DIR/run)")
	cmd.Flags().String("listen", devDefaultListen, "web.listen of the console")
	cmd.Flags().String("user", devDefaultUser, "unprivileged account the console runs as when run as root (created if missing)")
	cmd.Flags().String("prefix", devDefaultPrefix, "name prefix of the lab's network namespaces")
	return cmd
}

// devRun is one `devmgr dev run`.
type devRun struct {
	dir, listen, user, prefix string
	out                       io.Writer
	log                       *slog.Logger

	exe     string // this devmgr binary, run for serve and agent
	dataDir string
	runDir  string
	spawn   *spawner
	outMu   sync.Mutex
}

func (r *devRun) run(ctx context.Context) error {
	// A closed terminal stops the run as Ctrl-C does (main handles SIGINT, SIGTERM).
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP)
	defer stop()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the devmgr binary: %w", err)
	}
	if r.exe, err = filepath.EvalSymlinks(exe); err != nil {
		return fmt.Errorf("finding the devmgr binary: %w", err)
	}
	if r.dir, err = filepath.Abs(r.dir); err != nil {
		return err
	}
	r.dataDir = filepath.Join(r.dir, "data")
	r.runDir = filepath.Join(r.dir, "run")
	if _, _, err := net.SplitHostPort(r.listen); err != nil {
		return fmt.Errorf("--listen %q: %w", r.listen, err)
	}
	// Children are started from one locked thread that lives until they
	// are stopped: their parent-death signal fires when it ends, so a
	// killed `dev run` takes serve and the agent with it.
	r.spawn = newSpawner()
	defer r.spawn.close()
	if os.Geteuid() != 0 {
		return r.runUnprivileged(ctx)
	}
	return r.runLab(ctx)
}

// runUnprivileged serves the console as the current user, without the agent.
func (r *devRun) runUnprivileged(ctx context.Context) error {
	fmt.Fprintln(r.out, devNotRoot)
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(r.dataDir, 0o700); err != nil {
		return err
	}
	if err := syscall.Access(r.dataDir, 0o3); err != nil { // W_OK|X_OK
		return fmt.Errorf("%s is not writable by you (%w): a `make run` as root gives it to the %s user; "+
			"run `sudo make run`, or take it back with `sudo chown -R $(id -u):$(id -g) %s`",
			r.rel(r.dataDir), err, r.user, r.rel(r.dataDir))
	}
	cfg := config.Default()
	cfg.DataDir = r.dataDir
	cfg.Agent.Socket = filepath.Join(r.runDir, "agent.sock")
	cfg.Web.Listen = r.listen
	if u, err := user.Current(); err == nil {
		cfg.Web.User = u.Username
	}
	cfgPath := filepath.Join(r.dir, "dev.yaml")
	if err := lab.WriteConfig(cfgPath, cfg); err != nil {
		return err
	}
	serve, err := r.start("serve", exec.Command(r.exe, "serve", "--config", cfgPath), nil)
	if err != nil {
		return err
	}
	defer serve.stop(10 * time.Second)
	if err := r.waitConsole(ctx, serve); err != nil {
		return ignoreCanceled(ctx, err)
	}
	r.banner(cfgPath, nil)
	return r.wait(ctx, serve)
}

// runLab is the root case: lab, agent in its device namespace, console as r.user.
func (r *devRun) runLab(ctx context.Context) error {
	u, err := ensureSystemUser(r.user, r.out)
	if err != nil {
		return err
	}
	cred, err := credentialOf(u)
	if err != nil {
		return err
	}
	if err := r.prepareDirs(cred); err != nil {
		return err
	}
	if err := lab.CleanStale(r.prefix); err != nil {
		r.log.Warn("removing a stale lab", "err", err)
	}
	l, err := lab.New(ctx, r.log, lab.Options{Prefix: r.prefix, UplinkStatic: true, Forwarding: true})
	if err != nil {
		return ignoreCanceled(ctx, fmt.Errorf("building the lab: %w", err))
	}
	defer func() {
		if err := l.Close(); err != nil {
			r.log.Error("removing the lab", "err", err)
		}
	}()

	cfg := l.Config(r.dataDir)
	cfg.Agent.Socket = filepath.Join(r.runDir, "agent.sock")
	cfg.Agent.StateDir = filepath.Join(r.dir, "agent") // root:root 0700, made by the agent
	cfg.Web.Listen = r.listen
	cfg.Web.User = r.user
	cfgPath := filepath.Join(r.dir, "lab.yaml")
	if err := lab.WriteConfig(cfgPath, cfg); err != nil {
		return err
	}

	// The console first: the agent's own state is apart (agent.state_dir),
	// and the console is to answer before the agent is probed.
	serve, err := r.start("serve", exec.Command(r.exe, "serve", "--config", cfgPath), cred)
	if err != nil {
		return err
	}
	defer serve.stop(10 * time.Second)
	if err := r.waitConsole(ctx, serve); err != nil {
		return ignoreCanceled(ctx, err)
	}

	ip, err := lookPathSbin("ip")
	if err != nil {
		return err
	}
	ag, err := r.start("agent", exec.Command(ip, "netns", "exec", l.NS(lab.Device), r.exe, "agent",
		"--config", cfgPath,
		"--leases", filepath.Join(r.runDir, "ap.leases"), // the lab has no AP dnsmasq
		"--hostapd-ctrl", filepath.Join(r.runDir, "hostapd"), // nor hostapd
		"--dns-servers", filepath.Join(r.runDir, "dns-servers"),
		"--dnsmasq-pid", filepath.Join(r.runDir, "dnsmasq.pid"),
	), nil)
	if err != nil {
		return err
	}
	defer func() {
		serve.stop(10 * time.Second) // first: the console has no agent to lose then
		ag.stop(10 * time.Second)
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
		fmt.Fprintf(r.out, "lab %s-%s: agent in namespace %s (as root), console here as user %s; agent sees %s\n",
			r.prefix, l.ID(), l.NS(lab.Device), r.user, strings.Join(names, ", "))
		fmt.Fprintf(r.out, "lab namespaces: ip netns list | grep %s-%s   (ip netns exec %s ip addr)\n",
			r.prefix, l.ID(), l.NS(lab.Device))
	})
	return r.wait(ctx, serve, ag)
}

// prepareDirs lays out r.dir: DIR (0755, config), DIR/run (0755, root:
// the agent's socket), DIR/data (0700, the web user: database, TLS pair,
// first password). The agent's own files in DIR/data stay root's.
func (r *devRun) prepareDirs(cred *syscall.Credential) error {
	for _, d := range []string{r.dir, r.runDir} {
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
		if !strings.HasPrefix(n, store.FileName) && n != web.InitialPasswordFile && n != "tls" {
			continue // e.g. network/: the agent's journal, root's
		}
		err := filepath.WalkDir(filepath.Join(r.dataDir, n), func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil {
			return fmt.Errorf("giving %s to %s: %w", r.rel(filepath.Join(r.dataDir, n)), r.user, err)
		}
	}
	for _, p := range []string{r.dataDir, r.runDir, r.exe} {
		if bad, mode := blockedFor(p, cred); bad != "" {
			return fmt.Errorf("user %s cannot enter %s (mode %04o), on the way to %s: run `chmod o+x %s`, "+
				"or keep the repository where other users can enter", r.user, bad, mode, p, bad)
		}
	}
	return nil
}

// moveOldData moves the database of an older `make run` (data_dir DIR)
// into DIR/data, when DIR/data has none.
func (r *devRun) moveOldData() {
	if _, err := os.Stat(filepath.Join(r.dataDir, store.FileName)); err == nil {
		return
	}
	if _, err := os.Stat(filepath.Join(r.dir, store.FileName)); err != nil {
		return
	}
	for _, n := range []string{store.FileName, store.FileName + "-wal", store.FileName + "-shm", web.InitialPasswordFile, "tls"} {
		if err := os.Rename(filepath.Join(r.dir, n), filepath.Join(r.dataDir, n)); err == nil {
			r.log.Info("moved into the data directory", "file", n, "to", r.rel(r.dataDir))
		}
	}
}

// blockedFor returns the first directory on the way to path (or path
// itself, for a program) that cred may not search or run, and its mode.
func blockedFor(path string, cred *syscall.Credential) (string, os.FileMode) {
	var dirs []string
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		dirs = append([]string{d}, dirs...)
		if d == "/" || d == "." {
			break
		}
	}
	st, err := os.Stat(path)
	if err == nil && st.Mode().IsRegular() {
		dirs = append(dirs, path)
	}
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil {
			return d, 0
		}
		sys := st.Sys().(*syscall.Stat_t)
		var bit os.FileMode = 0o001
		switch {
		case sys.Uid == cred.Uid:
			bit = 0o100
		case sys.Gid == cred.Gid || slices.Contains(cred.Groups, sys.Gid):
			bit = 0o010
		}
		if st.Mode().Perm()&bit == 0 {
			return d, st.Mode().Perm()
		}
	}
	return "", 0
}

// ensureSystemUser returns the account name, creating it as `devmgr
// provision` does on a device when it is missing.
func ensureSystemUser(name string, out io.Writer) (*user.User, error) {
	u, err := user.Lookup(name)
	if err == nil {
		return u, nil
	}
	var unknown user.UnknownUserError
	if !errors.As(err, &unknown) {
		return nil, fmt.Errorf("looking up user %s: %w", name, err)
	}
	useradd, err := lookPathSbin("useradd")
	if err != nil {
		return nil, err
	}
	nologin := "/usr/sbin/nologin"
	if _, err := os.Stat(nologin); err != nil {
		nologin = "/sbin/nologin"
	}
	if b, err := exec.Command(useradd, "--system", "--no-create-home", "--shell", nologin, name).CombinedOutput(); err != nil {
		if u, lerr := user.Lookup(name); lerr == nil {
			return u, nil // made by someone else meanwhile
		}
		return nil, fmt.Errorf("creating system user %s: %w: %s", name, err, strings.TrimSpace(string(b)))
	}
	fmt.Fprintf(out, "created system user %s (the console's account, as on a device)\n", name)
	return user.Lookup(name)
}

// credentialOf is u with its groups, as setpriv --init-groups gives them.
func credentialOf(u *user.User) (*syscall.Credential, error) {
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("parsing uid %q / gid %q of %s", u.Uid, u.Gid, u.Username)
	}
	c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("listing groups of %s: %w", u.Username, err)
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil && !slices.Contains(c.Groups, uint32(n)) {
			c.Groups = append(c.Groups, uint32(n))
		}
	}
	return c, nil
}

func lookPathSbin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("finding program %s: %w", name, exec.ErrNotFound)
}

// child is a supervised process.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // of Wait, once done is closed
}

// start starts cmd in its own process group (Ctrl-C reaches only dev run,
// which stops the children in order), with output prefixed by name and,
// when cred is set, as that user.
func (r *devRun) start(name string, cmd *exec.Cmd, cred *syscall.Credential) (*child, error) {
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "DEVMGR_CONFIG=") })
	cmd.Stdout = &prefixWriter{mu: &r.outMu, w: os.Stderr, prefix: name + " | "}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM, Credential: cred}
	if err := r.spawn.start(cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		cmd.Stdout.(*prefixWriter).flush()
		close(c.done)
	}()
	return c, nil
}

// stop sends SIGTERM and, after d, SIGKILL to the process group.
func (c *child) stop(d time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(d):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
	// Whatever it started in its group goes too.
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
}

func (c *child) exited() error {
	if c.err == nil {
		return fmt.Errorf("%s exited", c.name)
	}
	return fmt.Errorf("%s exited: %w", c.name, c.err)
}

// wait runs until ctx is done (nil) or a child exits (its error).
func (r *devRun) wait(ctx context.Context, children ...*child) error {
	cases := make(chan *child, len(children))
	for _, c := range children {
		go func() {
			select {
			case <-c.done:
				cases <- c
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(r.out, "stopping")
		return nil
	case c := <-cases:
		return fmt.Errorf("%w; stopping the rest", c.exited())
	}
}

func ignoreCanceled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// consoleURL is the console's base URL as seen from this host.
func (r *devRun) consoleURL() string {
	host, port, _ := net.SplitHostPort(r.listen)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, port)
}

// waitConsole waits until /healthz answers 200.
func (r *devRun) waitConsole(ctx context.Context, c *child) error {
	hc := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // its own self-signed pair
	}
	defer hc.CloseIdleConnections()
	return poll(ctx, c, 60*time.Second, "the console to answer on "+r.consoleURL()+"/healthz", func() bool {
		resp, err := hc.Get(r.consoleURL() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// waitAgent waits until the agent answers on its socket.
func (r *devRun) waitAgent(ctx context.Context, c *child, socket string) error {
	cl := agent.NewClient(socket)
	defer cl.Close()
	return poll(ctx, c, 60*time.Second, "the agent to answer on "+r.rel(socket), func() bool {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := cl.Health(hctx)
		return err == nil
	})
}

func poll(ctx context.Context, c *child, timeout time.Duration, what string, ok func() bool) error {
	deadline := time.After(timeout)
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return c.exited()
		case <-deadline:
			return fmt.Errorf("waited %s for %s", timeout, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// probeAs runs `devmgr dev probe` as cred: the path the console takes to
// the agent (socket directory, group, peer credentials).
func (r *devRun) probeAs(ctx context.Context, cred *syscall.Credential, socket string) ([]string, error) {
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(pctx, r.exe, "dev", "probe", "--socket", socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Stderr = &prefixWriter{mu: &r.outMu, w: os.Stderr, prefix: "probe | "}
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("user %s cannot use the agent socket %s: %w", r.user, r.rel(socket), err)
	}
	var p devProbe
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("reading the probe's answer %q: %w", b, err)
	}
	var names []string
	for _, i := range p.Interfaces {
		names = append(names, i.Name)
	}
	return names, nil
}

// banner says where the console is and how to sign in.
func (r *devRun) banner(cfgPath string, extra func()) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	fmt.Fprintf(r.out, "devmgr console: %s  (self-signed certificate: accept it in the browser)\n", r.consoleURL())
	pw := filepath.Join(r.dataDir, web.InitialPasswordFile)
	if _, err := os.Stat(pw); err == nil {
		fmt.Fprintf(r.out, "first sign-in: user admin, password in %s (you choose a new one at once)\n", r.rel(pw))
	} else {
		fmt.Fprintf(r.out, "sign in with your account (the data is in %s)\n", r.rel(r.dataDir))
	}
	fmt.Fprintf(r.out, "config: %s\n", r.rel(cfgPath))
	if extra != nil {
		extra()
	}
	fmt.Fprintln(r.out, "Ctrl-C stops everything (console, agent, lab).")
	fmt.Fprintln(r.out, devReady)
}

// rel shows p relative to the working directory when it is under it.
func (r *devRun) rel(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if rp, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rp, "..") {
		return rp
	}
	return p
}

// spawner starts processes from one OS thread that stays alive until
// close: a child's parent-death signal follows the thread that started it.
type spawner struct{ ch chan func() }

func newSpawner() *spawner {
	s := &spawner{ch: make(chan func())}
	go func() {
		runtime.LockOSThread()
		// Returning while locked ends the thread: remaining children get
		// their parent-death signal.
		for f := range s.ch {
			f()
		}
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	s.ch <- func() { errc <- cmd.Start() }
	return <-errc
}

func (s *spawner) close() { close(s.ch) }

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

func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		_, _ = fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.buf = nil
	}
}

// devProbe is what `devmgr dev probe` prints.
type devProbe struct {
	UID        int               `json:"uid"`
	Health     agent.Health      `json:"health"`
	Interfaces []agent.Interface `json:"interfaces"`
}

func newDevProbeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "ask the agent for its health and interfaces as the calling user (JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			socket, _ := cmd.Flags().GetString("socket")
			if socket == "" {
				cfg, err := loadConfig(cmd)
				if err != nil {
					return err
				}
				socket = cfg.Agent.Socket
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			c := agent.NewClient(socket)
			defer c.Close()
			p := devProbe{UID: os.Getuid()}
			var err error
			if p.Health, err = c.Health(ctx); err != nil {
				return err
			}
			a := agent.Actor{User: "dev-probe", Role: auth.Viewer, Source: "local"}
			if p.Interfaces, err = c.Interfaces(ctx, a); err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(p)
		},
	}
	cmd.Flags().String("socket", "", "agent socket (default: agent.socket of the config)")
	return cmd
}
