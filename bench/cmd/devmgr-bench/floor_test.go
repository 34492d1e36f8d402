package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The floor answers each of its paths with its body and content type, and
// 404 anywhere else.
func TestFloorHandler(t *testing.T) {
	h := floorHandler(map[string][]byte{"/api/v1/me": []byte(`{"username":"bench"}`), "/": []byte("<!doctype html>")})
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
		if res.StatusCode != c.status || string(b) != c.body || (c.ct != "" && res.Header.Get("Content-Type") != c.ct) {
			t.Errorf("%s %s = %d %q %q, want %d %q %q", c.method, c.path, res.StatusCode, res.Header.Get("Content-Type"), b, c.status, c.ct, c.body)
		}
	}
}
