package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/accounts"
	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/service"
	"github.com/devmgr/devmgr/internal/testing/devrun"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// devTestPrefix names the labs of these tests' `devmgr-dev run`s.
const devTestPrefix = "dmrt"

// TestDevRunLab runs what `make run` runs, as root: the console answers,
// the generated admin signs in and changes the password, the console (as
// user devmgr) reads the lab device's interfaces from the agent in the
// device namespace; the stand-in access point works through the agent
// socket and the default DNS server answers a lab name, without a change
// to this machine's /etc; SIGINT then leaves no namespace and no process
// behind.
func TestDevRunLab(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "dnsmasq", "useradd", "hostapd")
	bin, work := buildDevmgr(t)
	hostEtc := readHostFiles(device.HostapdConf, device.HostapdDeny, "/etc/resolv.conf")
	p := startDevRun(t, bin, work)
	if !strings.Contains(p.output(), "agent sees ") {
		t.Errorf("dev run did not report the agent's interfaces:\n%s", p.output())
	}

	// Sign in as the generated admin and choose a new password.
	pwFile := filepath.Join(work, "var", "data", accounts.InitialPasswordFile)
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatalf("first admin password: %v", err)
	}
	st, err := os.Stat(filepath.Join(work, "var", "data", "devmgr.db"))
	if err != nil {
		t.Fatal(err)
	}
	if u, err := user.Lookup("devmgr"); err != nil || u.Uid != strconv.FormatUint(uint64(st.Sys().(*syscall.Stat_t).Uid), 10) {
		t.Errorf("the database is owned by uid %d, want the devmgr user (%v)", st.Sys().(*syscall.Stat_t).Uid, err)
	}
	c := newConsoleClient(t, p.url)
	var login struct {
		MustChangePassword bool `json:"must_change_password"`
	}
	c.json(http.MethodPost, "/api/v1/login", map[string]string{"username": "admin", "password": strings.TrimSpace(string(pw))}, http.StatusOK, &login)
	if !login.MustChangePassword {
		t.Error("the generated admin need not change the password")
	}
	page := c.get("/account/password", http.StatusOK)
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf_token in the password page:\n%s", page)
	}
	newPW := "lab-run-password-42"
	c.form("/account/password", url.Values{"csrf_token": {m[1]}, "current": {strings.TrimSpace(string(pw))},
		"new": {newPW}, "confirm": {newPW}}, http.StatusOK)
	var me struct {
		MustChangePassword bool `json:"must_change_password"`
	}
	c.json(http.MethodGet, "/api/v1/me", nil, http.StatusOK, &me)
	if me.MustChangePassword {
		t.Error("must_change_password after the change")
	}
	if _, err := os.Stat(pwFile); err == nil {
		t.Error("the first admin password file is still there after the change")
	}

	// The interfaces of the lab device, through the console.
	names := c.interfaces()
	if names == nil {
		// The console has no /api/v1/interfaces yet: ask the agent as the
		// console's user, the way the console would.
		t.Log("GET /api/v1/interfaces: 404; asking the agent as user devmgr instead")
		names = probeAsDevmgr(t, bin, filepath.Join(work, "var", "run", "agent.sock"))
	} else {
		t.Logf("GET /api/v1/interfaces through the console: %v", names)
	}
	for _, want := range []string{"wlan0", "eth0", "eth1"} {
		if !slices.Contains(names, want) {
			t.Errorf("interfaces = %v, want %s among them", names, want)
		}
	}

	// The AP page's data, through the console.
	var apClients []api.APClient
	c.json(http.MethodGet, "/api/v1/ap/clients", nil, http.StatusOK, &apClients)
	if len(apClients) != len(lab.WiFiClients) {
		t.Errorf("GET /api/v1/ap/clients through the console: %+v, want the %d lab stations", apClients, len(lab.WiFiClients))
	}
	checkStandInAP(t, p, work)
	checkLabDNS(t, filepath.Join(work, "var", "run", "agent.sock"))
	if diff := cmp.Diff(hostEtc, readHostFiles(device.HostapdConf, device.HostapdDeny, "/etc/resolv.conf")); diff != "" {
		t.Errorf("the lab's agent changed this machine's /etc (-before +after):\n%s", diff)
	}

	p.stop(t, syscall.SIGINT)
	assertGone(t, bin, p.lab)
	for _, f := range []string{"agent.sock", "hostapd/wlan0"} {
		if _, err := os.Stat(filepath.Join(work, "var", "run", f)); err == nil {
			t.Errorf("%s is still there", f)
		}
	}
}

// readHostFiles returns the files' contents ("absent" for a missing one).
func readHostFiles(paths ...string) map[string]string {
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			out[p] = "absent: " + err.Error()
			continue
		}
		out[p] = string(b)
	}
	return out
}

// labStation is a WiFi-client namespace of the lab as the kernel sees it.
type labStation struct{ role, mac, ip string }

// labStations reads the MAC and IPv4 address of wlan0 in each WiFi-client
// namespace of the lab.
func labStations(t *testing.T, labName string) []labStation {
	t.Helper()
	var out []labStation
	for _, role := range lab.WiFiClients {
		b, err := exec.Command("ip", "netns", "exec", labName+"-"+role, "ip", "-j", "addr", "show", "dev", "wlan0").Output()
		if err != nil {
			t.Fatalf("reading wlan0 of %s: %v", role, err)
		}
		var links []struct {
			Address  string `json:"address"`
			AddrInfo []struct {
				Family string `json:"family"`
				Local  string `json:"local"`
			} `json:"addr_info"`
		}
		if err := json.Unmarshal(b, &links); err != nil || len(links) != 1 {
			t.Fatalf("wlan0 of %s: %s (%v)", role, b, err)
		}
		var v4 []string
		for _, a := range links[0].AddrInfo {
			if a.Family == "inet" {
				v4 = append(v4, a.Local)
			}
		}
		if len(v4) != 1 || links[0].Address == "" {
			t.Fatalf("wlan0 of %s: %s, want a MAC and one IPv4 address", role, b)
		}
		out = append(out, labStation{role: role, mac: links[0].Address, ip: v4[0]})
	}
	return out
}

// checkStandInAP drives the lab's access point through the agent socket,
// as the AP page does: it is up, its stations are the WiFi-client
// namespaces with their leased addresses, a block disconnects one and an
// unblock lets it back, and an SSID change shows once applied and stays
// once confirmed. The rendered config lands in the agent's /etc layer.
func checkStandInAP(t *testing.T, p *devRunProc, work string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := agentclient.New(filepath.Join(work, "var", "run", "agent.sock"))
	defer cl.Close()
	admin := api.Actor{User: "dev-test", Role: auth.Admin, Source: "local"}

	info, err := cl.AP(ctx, admin)
	if err != nil {
		t.Fatalf("AP status: %v", err)
	}
	if st := info.Status; !st.Running || st.State != "ENABLED" || st.Problem != "" || st.SSID != "DeviceManager" || st.Clients != 2 {
		t.Errorf("AP status %+v, want ENABLED, SSID DeviceManager, two clients, no problem", st)
	}
	if !strings.Contains(p.output(), devrun.StandIn) {
		t.Errorf("the banner does not say the AP is a stand-in:\n%s", p.output())
	}

	stations := labStations(t, p.lab)
	clients := func() map[string]api.APClient {
		t.Helper()
		list, err := cl.APClients(ctx, admin)
		if err != nil {
			t.Fatalf("AP clients: %v", err)
		}
		out := map[string]api.APClient{}
		for _, c := range list {
			out[c.MAC] = c
		}
		return out
	}
	got := clients()
	for _, s := range stations {
		c, ok := got[s.mac]
		if !ok || c.IP != s.ip || c.Hostname != s.role || !c.Authorized {
			t.Errorf("client of %s (%s %s): %+v, listed %v", s.role, s.mac, s.ip, c, ok)
		}
		if !strings.Contains(p.output(), s.role+" "+s.ip) {
			t.Errorf("the banner does not list %s %s:\n%s", s.role, s.ip, p.output())
		}
	}
	if len(got) != len(stations) {
		t.Errorf("clients %v, want the %d lab stations", got, len(stations))
	}

	// Block the first station: it is disconnected and stays out.
	blocked := stations[0].mac
	if _, err := cl.APDeny(ctx, admin, blocked); err != nil {
		t.Fatalf("block %s: %v", blocked, err)
	}
	if got := clients(); len(got) != len(stations)-1 || got[blocked].MAC != "" {
		t.Errorf("clients after blocking %s: %v", blocked, got)
	}
	if _, err := cl.APAllow(ctx, admin, blocked); err != nil {
		t.Fatalf("unblock %s: %v", blocked, err)
	}
	if got := clients(); len(got) != len(stations) || got[blocked].IP != stations[0].ip {
		t.Errorf("clients after unblocking %s: %v", blocked, got)
	}

	// An SSID change is applied (hostapd reloads) and kept once confirmed.
	ssid := "LabNet"
	ch, err := cl.APUpdate(ctx, admin, api.APUpdate{SSID: &ssid})
	if err != nil {
		t.Fatalf("SSID change: %v", err)
	}
	if info, err := cl.AP(ctx, admin); err != nil || info.Status.SSID != ssid || info.Status.Pending == nil {
		t.Errorf("AP status during the change: %+v %v, want SSID %s pending", info.Status, err, ssid)
	}
	if ch, err = cl.APConfirm(ctx, admin, ch.ID); err != nil || ch.Status != "confirmed" {
		t.Fatalf("confirm: %+v %v", ch, err)
	}
	if info, err := cl.AP(ctx, admin); err != nil || info.Status.SSID != ssid || info.Settings.SSID != ssid || info.Status.Pending != nil {
		t.Errorf("AP after confirm: %+v %v, want SSID %s", info, err, ssid)
	}
	conf, err := os.ReadFile(filepath.Join(work, "var", "lab", "root", device.HostapdConf))
	if err != nil || !strings.Contains(string(conf), "\nssid="+ssid+"\n") {
		t.Errorf("the agent's rendered hostapd config: %v\n%s", err, conf)
	}
}

// checkLabDNS asks the agent's DNS diagnostic for a lab name with its
// default server, as Diagnostics does with the server left empty.
func checkLabDNS(t *testing.T, socket string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := agentclient.New(socket)
	defer cl.Close()
	res, err := cl.DNS(ctx, api.Actor{User: "dev-test", Role: auth.Operator, Source: "local"}, api.DNSRequest{Name: lab.UpstreamName})
	if err != nil {
		t.Fatalf("DNS lookup: %v", err)
	}
	if res.Error != "" || len(res.Answers) != 1 || res.Answers[0].Value != lab.UpstreamIP {
		t.Errorf("DNS lookup of %s with the default server: %+v, want %s", lab.UpstreamName, res, lab.UpstreamIP)
	}
}

// TestDevRunAfterCrash kills `devmgr-dev run` with SIGKILL: serve and the agent
// follow it (parent-death signal), the lab stays as a stale one, and the
// next run removes it.
func TestDevRunAfterCrash(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "dnsmasq", "useradd")
	bin, work := buildDevmgr(t)
	first := startDevRun(t, bin, work)
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	testutil.Eventually(t, 15*time.Second, func() bool {
		return len(processesOf(bin)) == 0
	}, "serve and agent to exit after dev run was killed")
	if len(namespacesOf(first.lab)) == 0 {
		t.Fatalf("the killed run's lab %s is gone already; the test shows nothing", first.lab)
	}

	second := startDevRun(t, bin, work)
	if ns := namespacesOf(first.lab); len(ns) > 0 {
		t.Errorf("the second run left the stale lab's namespaces: %v", ns)
	}
	second.stop(t, syscall.SIGTERM)
	assertGone(t, bin, second.lab)
	assertGone(t, bin, first.lab)
}

// buildDevmgr builds devmgr and this command into a fresh directory that
// every user may enter (serve runs devmgr as user devmgr, and the probe
// this command) and returns the devmgr binary and the directory.
func buildDevmgr(t *testing.T) (string, string) {
	t.Helper()
	work, err := os.MkdirTemp("", "devmgr-dev-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if bad, mode := devrun.BlockedFor(work, &syscall.Credential{Uid: 65534, Gid: 65534}); bad != "" {
		testutil.Missing(t, "a temporary directory other users may enter (%s is %04o)", bad, mode)
	}
	bin := filepath.Join(work, "devmgr")
	for _, b := range []struct{ out, pkg string }{{bin, "../devmgr"}, {filepath.Join(work, "devmgr-dev"), "."}} {
		cmd := exec.Command(testutil.GoTool(t), "build", "-trimpath", "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", b.pkg, err, out)
		}
	}
	return bin, work
}

// devRunProc is a running `devmgr-dev run`.
type devRunProc struct {
	cmd  *exec.Cmd
	url  string
	lab  string // e.g. dmrt-a1b2c3
	done chan struct{}
	mu   sync.Mutex
	out  bytes.Buffer
}

func (p *devRunProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

var labLine = regexp.MustCompile(`(?m)^lab (` + devTestPrefix + `-[0-9a-f]{6}): `)

// startDevRun starts `devmgr-dev run` on a free port and waits until it is ready.
func startDevRun(t *testing.T, bin, work string) *devRunProc {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(filepath.Join(work, "devmgr-dev"), "run", "--devmgr", bin, "--dir", filepath.Join(work, "var"), "--listen", addr, "--prefix", devTestPrefix)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	p := &devRunProc{cmd: cmd, url: "https://" + addr, done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{p: p}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if sc.Text() == devrun.Ready {
				close(ready)
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-p.done
			}
		}
		if err := lab.CleanStale(devTestPrefix); err != nil {
			t.Logf("cleaning labs: %v", err)
		}
		if t.Failed() {
			t.Logf("dev run output:\n%s", p.output())
		}
	})
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("dev run exited before it was ready (%v):\n%s", cmd.ProcessState, p.output())
	case <-time.After(2 * time.Minute):
		t.Fatalf("dev run not ready after 2 minutes:\n%s", p.output())
	}
	m := labLine.FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("dev run did not name its lab:\n%s", p.output())
	}
	p.lab = m[1]
	return p
}

// stop signals devmgr-dev run and expects a clean exit within a minute.
func (p *devRunProc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("dev run still running a minute after %v:\n%s", sig, p.output())
	}
	if !p.cmd.ProcessState.Success() {
		t.Errorf("dev run after %v: %v\n%s", sig, p.cmd.ProcessState, p.output())
	}
}

type lockedWriter struct{ p *devRunProc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// assertGone checks that no namespace of the lab and no process of bin is left.
func assertGone(t *testing.T, bin, labName string) {
	t.Helper()
	if ns := namespacesOf(labName); len(ns) > 0 {
		t.Errorf("namespaces left behind: %v", ns)
	}
	if ps := processesOf(bin); len(ps) > 0 {
		t.Errorf("processes left behind: %v", ps)
	}
}

func namespacesOf(labName string) []string {
	ents, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), labName+"-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// processesOf lists the processes running the binary bin.
func processesOf(bin string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.TrimSuffix(exe, " (deleted)") == bin {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

// consoleClient is a cookie-keeping HTTPS client of the console.
type consoleClient struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newConsoleClient(t *testing.T, base string) *consoleClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{
		Jar:       jar,
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	t.Cleanup(hc.CloseIdleConnections)
	return &consoleClient{t: t, base: base, hc: hc}
}

func (c *consoleClient) do(req *http.Request, want int) []byte {
	c.t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %s, want %d: %s", req.Method, req.URL.Path, resp.Status, want, b)
	}
	return b
}

func (c *consoleClient) get(path string, want int) string {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, c.base+path, nil)
	return string(c.do(req, want))
}

func (c *consoleClient) form(path string, v url.Values, want int) {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, c.base+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c.do(req, want)
}

func (c *consoleClient) json(method, path string, in any, want int, out any) {
	c.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, c.base+path, body)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	b := c.do(req, want)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
}

// interfaces returns the names GET /api/v1/interfaces lists, or nil when
// the console has no such route.
func (c *consoleClient) interfaces() []string {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, c.base+"/api/v1/interfaces", nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("GET /api/v1/interfaces: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET /api/v1/interfaces: %s: %s", resp.Status, b)
	}
	type named struct {
		Name string `json:"name"`
	}
	var list []named
	if err := json.Unmarshal(b, &list); err != nil {
		var wrapped struct {
			Interfaces []named `json:"interfaces"`
		}
		if err := json.Unmarshal(b, &wrapped); err != nil {
			c.t.Fatalf("GET /api/v1/interfaces: decoding %s: %v", b, err)
		}
		list = wrapped.Interfaces
	}
	names := []string{}
	for _, i := range list {
		names = append(names, i.Name)
	}
	return names
}

// probeAsDevmgr asks the agent for its interfaces as the devmgr user.
func probeAsDevmgr(t *testing.T, bin, socket string) []string {
	t.Helper()
	cred, err := service.UserCredential("devmgr")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(filepath.Dir(bin), "devmgr-dev"), "probe", "--socket", socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("dev probe as devmgr: %v: %s", err, stderr.String())
	}
	var p devrun.ProbeResult
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("dev probe: decoding %s: %v", b, err)
	}
	if p.UID != int(cred.Uid) {
		t.Errorf("probe ran as uid %d, want %d", p.UID, cred.Uid)
	}
	var names []string
	for _, i := range p.Interfaces {
		names = append(names, i.Name)
	}
	return names
}
