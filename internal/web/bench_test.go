package web

import (
	"io"
	"net/http"
	"testing"

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

func BenchmarkDashboardAPI(b *testing.B)      { benchGet(b, "/api/v1/system") }
func BenchmarkDashboardFragment(b *testing.B) { benchGet(b, "/dashboard/live") }
func BenchmarkDashboardPage(b *testing.B)     { benchGet(b, "/") }
