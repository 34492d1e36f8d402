package agentbench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/agent"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/web"
)

// The endpoints of make bench's table.
var endpoints = []struct{ name, path string }{
	{"me", "/api/v1/me"},
	{"system", "/api/v1/system"},
	{"interfaces", "/api/v1/interfaces"},
	{"dashboard", "/"},
}

// BenchmarkEndpoint measures an authenticated GET of each endpoint through
// the whole stack: TLS, the console's middleware and session, the handler,
// and for the agent's data the client, the unix socket and the agent's
// netlink backend. Keep-alive, as a browser and wrk.
func BenchmarkEndpoint(b *testing.B) {
	st := start(b)
	for _, ep := range endpoints {
		b.Run(ep.name, func(b *testing.B) {
			get(b, st, ep.path) // warm: the first read fills what is kept
			b.ReportAllocs()
			before := cpuTime()
			n := 0
			for b.Loop() {
				get(b, st, ep.path)
				n++
			}
			// The process's CPU time, client included: wall time per
			// request on a shared machine says little.
			b.ReportMetric(float64(cpuTime()-before)/float64(n), "cpu-ns/op")
		})
	}
}

type stack struct {
	url    string
	cookie string
	c      *http.Client
}

func get(b *testing.B, st *stack, path string) {
	req, _ := http.NewRequest(http.MethodGet, st.url+path, nil)
	req.Header.Set("Cookie", st.cookie)
	res, err := st.c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Fatalf("GET %s = %d %s", path, res.StatusCode, body)
	}
}

func start(b *testing.B) *stack {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root: builds a network-namespace lab")
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	l := lab.NewT(b, lab.Options{Prefix: "dmbenchcs", NoServers: true})
	dir := b.TempDir()
	cfg := l.Config(filepath.Join(dir, "data"))
	cfg.Agent.Socket = filepath.Join(dir, "run", "agent.sock")
	cfg.Web.User = "root" // a root-only socket: this process is the console

	// The agent, as serveAgent composes it, without the AP's modules.
	h, err := netif.OpenAt(l.NSPath(lab.Device))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	eng, err := change.New(change.Config{Dir: filepath.Join(dir, "changes"), Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(eng.Close)
	ch, err := netif.NewChanger(netif.Config{Handle: h, AppConfig: cfg, Changes: eng, Dir: filepath.Join(dir, "network"), Log: log})
	if err != nil {
		b.Fatal(err)
	}
	live, err := netif.NewLive(ctx, h)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { live.Close() })
	srv, err := agent.New(agent.Config{
		Socket: cfg.Agent.Socket, WebUser: cfg.Web.User,
		Network: &agent.NetifNetwork{Handle: h, Changer: ch, Live: live, Config: cfg},
		Traffic: agent.NewTraffic(h, log),
		Diag:    noDiag{}, Audit: agent.AuditorFunc(func(context.Context, agent.AuditEntry) error { return nil }),
		Log: log,
	})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := srv.Listen()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})

	// The console, as devmgr serve composes it.
	db, err := store.Open(ctx, cfg.DataDir, log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	ac := agentclient.New(cfg.Agent.Socket, agentclient.WithSharedReads(time.Second))
	b.Cleanup(func() { ac.Close() })
	ws, err := web.New(web.Config{Config: cfg, DB: db, Logger: log, Agent: ac})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(ws.Handler())
	ts.StartTLS()
	b.Cleanup(ts.Close)

	const password = "bench-password-1234"
	hash, err := auth.HashPassword(password)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.CreateUser(ctx, "bench", auth.Viewer, hash, false); err != nil {
		b.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	b.Cleanup(c.CloseIdleConnections)
	body, _ := json.Marshal(map[string]string{"username": "bench", "password": password})
	res, err := c.Post(ts.URL+"/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	st := &stack{url: ts.URL, c: c}
	for _, ck := range res.Cookies() {
		if ck.Name == web.SessionCookie {
			st.cookie = ck.Name + "=" + ck.Value
		}
	}
	if st.cookie == "" {
		b.Fatalf("login: %s, no session cookie", res.Status)
	}
	return st
}

// cpuTime is the CPU time this process used so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
