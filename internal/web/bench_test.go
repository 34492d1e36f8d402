package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
)

// benchGet measures an authenticated GET through the whole stack: TLS,
// middleware, session and user lookups in SQLite, the handler.
func benchGet(b *testing.B, path string) {
	h := newHarness(b)
	h.addUser("vera", auth.Viewer, userPassword)
	c := h.newClient()
	c.mustLogin("vera", userPassword)
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.c.Get(h.ts.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("GET %s = %d %s", path, res.StatusCode, body)
		}
	}
}

func BenchmarkMe(b *testing.B)                { benchGet(b, "/api/v1/me") }
func BenchmarkDashboardAPI(b *testing.B)      { benchGet(b, "/api/v1/system") }
func BenchmarkDashboardFragment(b *testing.B) { benchGet(b, "/dashboard/live") }
func BenchmarkDashboardPage(b *testing.B)     { benchGet(b, "/") }

// BenchmarkDashboardRender is the dashboard's handler alone, on the data
// of a fake agent (two interfaces, an AP): a render without HTTP, session
// or agent. "same" keeps the data (the system part is reused), "changing"
// changes it every time (a render each time).
func BenchmarkDashboardRender(b *testing.B) {
	for _, bc := range []struct {
		name   string
		change bool
	}{{"same", false}, {"changing", true}} {
		b.Run(bc.name, func(b *testing.B) {
			sys := &countingSys{}
			h := startHarnessAgent(b, testConfig(b.TempDir()), newFakeClock(), sys, newFakeAgent(b))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			// As serveRoute leaves it: a session loaded, the caller known.
			ctx, err := h.srv.sessions.Load(r.Context(), "")
			if err != nil {
				b.Fatal(err)
			}
			r = r.WithContext(context.WithValue(ctx, identityKey, &identity{UserID: 1, Name: "vera", Role: auth.Viewer}))
			b.ReportAllocs()
			for b.Loop() {
				if bc.change {
					sys.n++
				}
				w := httptest.NewRecorder()
				h.srv.dashboard(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("dashboard = %d", w.Code)
				}
			}
		})
	}
}

// countingSys is fakeSys with an uptime of n minutes.
type countingSys struct{ n int }

func (c *countingSys) Snapshot(ctx context.Context) (System, error) {
	s, err := fakeSys{}.Snapshot(ctx)
	s.Uptime = time.Duration(c.n) * time.Minute
	return s, err
}

// BenchmarkHandler is the console's handler alone (middleware, session,
// handler) for a signed-in viewer, on a fake agent that counts changes as
// the agent client does (the dashboard is kept): no TLS, no connection.
func BenchmarkHandler(b *testing.B) {
	for _, path := range []string{"/api/v1/me", "/"} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			h, _ := newGenHarness(b)
			h.addUser("vera", auth.Viewer, userPassword)
			c := h.newClient()
			c.mustLogin("vera", userPassword)
			u, _ := url.Parse(h.ts.URL)
			r := httptest.NewRequest(http.MethodGet, path, nil)
			for _, ck := range c.c.Jar.Cookies(u) {
				r.AddCookie(ck)
			}
			r.Header.Set("User-Agent", "wrk")
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				h.srv.handler.ServeHTTP(w, r)
				if w.code != http.StatusOK {
					b.Fatalf("GET %s = %d", path, w.code)
				}
			}
		})
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}
