package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The floor answers each of its paths with its header and body, and
// 404 anywhere else.
func TestFloorHandler(t *testing.T) {
	h := floorHandler(map[string]floorAnswer{
		"/api/v1/me": {http.Header{"Content-Type": {"application/json"}, "X-Frame-Options": {"DENY"}}, []byte(`{"username":"bench"}`)},
		"/":          {http.Header{"Content-Type": {"text/html; charset=utf-8"}}, []byte("<!doctype html>")},
	})
	for _, c := range []struct {
		method, path string
		status       int
		ct, body     string
	}{
		{http.MethodGet, "/api/v1/me", 200, "application/json", `{"username":"bench"}`},
		{http.MethodGet, "/", 200, "text/html; charset=utf-8", "<!doctype html>"},
		{http.MethodGet, "/healthz", 404, "", ""},
		{http.MethodGet, "/api/v1/me/", 404, "", ""},
		{http.MethodPost, "/api/v1/me", 405, "", ""},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		res := w.Result()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != c.status || string(b) != c.body || (c.ct != "" && res.Header.Get("Content-Type") != c.ct) ||
			(c.path == "/api/v1/me" && c.status == 200 && res.Header.Get("X-Frame-Options") != "DENY") {
			t.Errorf("%s %s = %d %q %q, want %d %q %q", c.method, c.path, res.StatusCode, res.Header.Get("Content-Type"), b, c.status, c.ct, c.body)
		}
	}
}
