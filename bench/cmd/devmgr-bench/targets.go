package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devmgr/devmgr/internal/tlsutil"
)

const (
	benchUser     = "bench"
	benchRole     = "viewer"
	devPrefix     = "dmbench"               // lab namespaces dmbench-XXXXXX-*
	devReadyLine  = "devmgr dev run: ready" // devrun.Ready
	webUser       = "devmgr"                // what `devmgr-dev run` runs the console as when root
	debianPython  = "/usr/bin/python3"
	debianGunicon = "/usr/bin/gunicorn"
)

// target is one server under test.
type target struct {
	name      string
	base      string // https://127.0.0.1:PORT
	cookie    string // Cookie header of the signed-in session
	password  string // of benchUser, for the burst of logins
	endpoints []string
	procs     func() map[int]string // the server's processes: pid → role
	start     memory                // once it answered and before sign-in
	startRSS  uint64                // KiB, summed, once it answered and before sign-in
	// serve starts another console on the same data at addr, for the
	// cold start (devmgr only; nil for Flask).
	serve func(addr string) (*exec.Cmd, error)
}

func rssOf(pids map[int]string) uint64 {
	var n uint64
	for pid := range pids {
		n += statusKB(pid, "VmRSS")
	}
	return n
}

// server is a started target and how to stop it.
type server struct {
	target
	p    *proc
	cred *syscall.Credential // the unprivileged account, when root
	logf *os.File            // the server's output; open while it runs
}

func (s *server) stop() {
	if s.p != nil {
		s.p.stop(30 * time.Second)
	}
	if s.logf != nil {
		s.logf.Close()
	}
}

// startDevmgr runs `devmgr-dev run` on a free port with its directory in
// tmp: as root a lab, the agent in its device namespace and the console as
// the devmgr user; otherwise the console alone. Then it adds the bench user
// and signs in.
func startDevmgr(ctx context.Context, o options, tmp string, logs io.Writer) (*server, error) {
	dir := filepath.Join(tmp, "devmgr")
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(tmp, "devmgr.log"))
	if err != nil {
		return nil, err
	}
	out := io.MultiWriter(logf, logs)
	cmd := exec.Command(o.dev, "run", "--devmgr", o.bin, "--dir", dir, "--listen", "127.0.0.1:"+strconv.Itoa(port), "--prefix", devPrefix)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "DEVMGR_CONFIG=") })
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = out
	p, err := startProc("devmgr-dev run", cmd, nil)
	if err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{p: p, logf: logf}
	s.name = "devmgr"
	s.base = fmt.Sprintf("https://127.0.0.1:%d", port)
	lines := lineWatcher(stdout, out)
	fail := func(err error) (*server, error) {
		b, _ := os.ReadFile(logf.Name())
		return s, fmt.Errorf("%w\nlast lines of devmgr-dev run:\n%s", err, tail(b, 30))
	}
	deadline := time.After(3 * time.Minute)
wait:
	for {
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-p.done:
			return fail(p.exited())
		case <-deadline:
			return fail(fmt.Errorf("devmgr-dev run not ready after 3 minutes"))
		case l, ok := <-lines:
			if !ok {
				return fail(fmt.Errorf("devmgr-dev run closed its output"))
			}
			if l == devReadyLine {
				break wait
			}
		}
	}
	root := os.Geteuid() == 0
	cfgPath := filepath.Join(dir, "dev.yaml")
	if root {
		cfgPath = filepath.Join(dir, "lab.yaml")
		if s.cred, err = credentialOf(webUser); err != nil {
			return s, err
		}
	}
	pids := map[int]string{}
	for _, c := range children(p.pid()) {
		if args := cmdline(c); len(args) > 1 && (args[1] == "serve" || args[1] == "agent") {
			pids[c] = args[1]
		}
	}
	var roles []string
	for _, r := range pids {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	want := []string{"serve"}
	if root {
		want = []string{"agent", "serve"}
	}
	if !slices.Equal(roles, want) {
		return fail(fmt.Errorf("found processes %v under devmgr-dev run, want %v", roles, want))
	}
	s.procs = func() map[int]string { return pids }
	s.startRSS = rssOf(pids)
	s.start = readMemory(pids)
	s.serve = func(addr string) (*exec.Cmd, error) {
		return coldServe(o.bin, cfgPath, filepath.Join(tmp, "cold.yaml"), addr, s.cred)
	}
	s.endpoints = []string{"/", "/api/v1/me", "/api/v1/system"}
	if root {
		s.endpoints = append(s.endpoints, "/api/v1/interfaces")
	}

	password := randomHex(12)
	add := exec.CommandContext(ctx, o.bin, "user", "add", benchUser, "--role", benchRole, "--password-stdin", "--config", cfgPath)
	add.Stdin = strings.NewReader(password + "\n")
	add.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if b, err := add.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("devmgr user add: %w: %s", err, b))
	}
	s.password = password
	if s.cookie, err = login(ctx, s.base, "__Host-devmgr", password); err != nil {
		return fail(err)
	}
	return s, nil
}

// ensureFlask installs Flask and gunicorn from Debian when missing (root only).
func ensureFlask(ctx context.Context, root bool) error {
	ok := exec.CommandContext(ctx, debianPython, "-c", "import flask").Run() == nil
	if _, err := os.Stat(debianGunicon); err == nil && ok {
		return nil
	}
	if !root {
		return fmt.Errorf("python3-flask or gunicorn is not installed (sudo apt-get install python3-flask gunicorn)")
	}
	return installPackages(ctx, "python3-flask", "gunicorn")
}

// startFlask runs bench/flask/app.py under gunicorn: 2 workers of 4
// threads (gthread, which keeps connections alive as wrk and browsers
// expect), TLS with a self-signed ECDSA P-256 pair like devmgr's, as the
// same unprivileged account as the console.
func startFlask(ctx context.Context, o options, tmp string, cred *syscall.Credential, logs io.Writer) (*server, error) {
	dir := filepath.Join(tmp, "flask")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	certPath, keyPath, err := writeSelfSigned(dir, cred)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "BENCH_DATA_DIR="+dir, "BENCH_SECRET_KEY="+randomHex(32),
		"PYTHONDONTWRITEBYTECODE=1", "HOME="+dir)
	appDir := filepath.Dir(o.flaskApp)
	password := randomHex(12)
	add := exec.CommandContext(ctx, debianPython, o.flaskApp, "adduser", benchUser, benchRole)
	add.Dir, add.Env = dir, env
	add.Stdin = strings.NewReader(password + "\n")
	add.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if b, err := add.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("adding the Flask user: %w: %s", err, b)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(tmp, "flask.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(debianGunicon, "--chdir", appDir, "--workers", "2", "--worker-class", "gthread",
		"--threads", "4", "--keep-alive", "5", "--worker-tmp-dir", dir,
		"--certfile", certPath, "--keyfile", keyPath, "--bind", "127.0.0.1:"+strconv.Itoa(port), "app:app")
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = io.MultiWriter(logf, logs), io.MultiWriter(logf, logs)
	p, err := startProc("gunicorn", cmd, cred)
	if err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{p: p, cred: cred, logf: logf}
	s.name = "Flask"
	s.base = fmt.Sprintf("https://127.0.0.1:%d", port)
	s.endpoints = []string{"/", "/api/v1/me", "/api/v1/system", "/api/v1/interfaces"}
	s.procs = func() map[int]string {
		m := map[int]string{p.pid(): "master"}
		for _, c := range children(p.pid()) {
			m[c] = "worker"
		}
		return m
	}
	fail := func(err error) (*server, error) {
		b, _ := os.ReadFile(logf.Name())
		return s, fmt.Errorf("%w\nlast lines of gunicorn:\n%s", err, tail(b, 30))
	}
	if err := waitHealthz(ctx, s.base, p); err != nil {
		return fail(err)
	}
	// Both workers up before anything is measured.
	deadline := time.Now().Add(30 * time.Second)
	for len(children(p.pid())) < 2 {
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("gunicorn has %d workers after 30s, want 2", len(children(p.pid()))))
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.startRSS = rssOf(s.procs())
	s.start = readMemory(s.procs())
	s.password = password
	if s.cookie, err = login(ctx, s.base, "session", password); err != nil {
		return fail(err)
	}
	return s, nil
}

// writeSelfSigned writes a new self-signed ECDSA P-256 pair for 127.0.0.1,
// like devmgr's, into dir (tlsutil's file names), dir and key owned by cred
// when set.
func writeSelfSigned(dir string, cred *syscall.Credential) (certPath, keyPath string, err error) {
	certPEM, keyPEM, err := tlsutil.SelfSigned(tlsutil.Names{DNS: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, time.Now())
	if err != nil {
		return "", "", err
	}
	certPath, keyPath = filepath.Join(dir, tlsutil.CertFile), filepath.Join(dir, tlsutil.KeyFile)
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	if cred != nil {
		for _, p := range []string{dir, keyPath} {
			if err := os.Lchown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return "", "", err
			}
		}
	}
	return certPath, keyPath, nil
}

func credentialOf(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("parsing uid %q / gid %q of %s", u.Uid, u.Gid, name)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// client trusts any certificate: both servers use self-signed pairs made
// for this run, reached on 127.0.0.1 only.
func client() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func waitHealthz(ctx context.Context, base string, p *proc) error {
	return waitOK(ctx, base+"/healthz", p)
}

// waitOK waits until a GET of url answers 200, p exits or 60 s pass.
func waitOK(ctx context.Context, url string, p *proc) error {
	c := client()
	defer c.CloseIdleConnections()
	deadline := time.After(60 * time.Second)
	for {
		if res, err := c.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return p.exited()
		case <-deadline:
			return fmt.Errorf("%s not answering after 60s", url)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// login signs in with the JSON API and returns the Cookie header value.
func login(ctx context.Context, base, cookieName, password string) (string, error) {
	c := client()
	defer c.CloseIdleConnections()
	body, _ := json.Marshal(map[string]string{"username": benchUser, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/login", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("signing in at %s: %w", base, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("signing in at %s: %s %s", base, res.Status, b)
	}
	for _, ck := range res.Cookies() {
		if ck.Name == cookieName {
			return ck.Name + "=" + ck.Value, nil
		}
	}
	return "", fmt.Errorf("signing in at %s: no %s cookie in the answer", base, cookieName)
}

// get fetches base+path with the session cookie and wants 200.
func get(ctx context.Context, c *http.Client, t target, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Cookie", t.cookie)
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %.200s", path, res.Status, b)
	}
	return nil
}
