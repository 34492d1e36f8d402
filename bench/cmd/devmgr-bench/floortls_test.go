package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/tlsutil"
)

// startTLSFloor serves answers on a loopback port over TLS, as the TLS
// floor does, until the test ends.
func startTLSFloor(t *testing.T, answers map[string]floorAnswer) string {
	t.Helper()
	dir := t.TempDir()
	if _, _, err := writeSelfSigned(dir, nil); err != nil {
		t.Fatal(err)
	}
	tc, err := tlsutil.ServerConfig(filepath.Join(dir, tlsutil.CertFile), filepath.Join(dir, tlsutil.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	tc.NextProtos = []string{"http/1.1"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveTLSOn(ctx, ln, tc, rawAnswers(answers)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serveTLSOn: %v", err)
		}
	})
	return "https://" + ln.Addr().String()
}

// The TLS floor answers Go's own client as net/http would: each path's
// header and body, keep-alive, a Date, 404 elsewhere, HEAD without the
// body.
func TestTLSFloorAnswers(t *testing.T) {
	// The captured header's length is not trusted: the body's is sent.
	base := startTLSFloor(t, map[string]floorAnswer{
		"/api/v1/me": {http.Header{"Content-Type": {"application/json"}, "X-Frame-Options": {"DENY"}, "Transfer-Encoding": {"chunked"}}, []byte(`{"username":"bench"}`)},
	})
	c := client()
	defer c.CloseIdleConnections()
	var conns []string
	trace := func(r *http.Request) *http.Request {
		return r.WithContext(withConnTrace(r.Context(), &conns))
	}
	for _, want := range []struct {
		method, path string
		status       int
		body         string
	}{
		{http.MethodGet, "/api/v1/me", 200, `{"username":"bench"}`},
		{http.MethodGet, "/api/v1/me", 200, `{"username":"bench"}`},
		{http.MethodHead, "/api/v1/me", 200, ""},
		{http.MethodGet, "/nowhere", 404, ""},
	} {
		req, err := http.NewRequest(want.method, base+want.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Cookie", "devmgr_session=x")
		res, err := c.Do(trace(req))
		if err != nil {
			t.Fatalf("%s %s: %v", want.method, want.path, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want.status || string(b) != want.body || res.Header.Get("Date") == "" {
			t.Errorf("%s %s = %d %q (Date %q), want %d %q", want.method, want.path, res.StatusCode, b, res.Header.Get("Date"), want.status, want.body)
		}
		if want.status == 200 && (res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("Content-Type") != "application/json") {
			t.Errorf("%s %s: header %v", want.method, want.path, res.Header)
		}
	}
	// One connection for all four: keep-alive works.
	if len(conns) != 4 {
		t.Fatalf("connections: %v, want 4 requests traced", conns)
	}
	for _, reused := range conns[1:] {
		if reused != "reused" {
			t.Errorf("connections: %v, want one kept alive", conns)
		}
	}
}

// It reads, and answers nothing else: a request with a body, another
// method, or a head over the console's MaxHeaderBytes ends the
// connection with its status.
func TestTLSFloorRefuses(t *testing.T) {
	base := startTLSFloor(t, map[string]floorAnswer{"/": {http.Header{"Content-Length": {"1"}}, []byte("x")}})
	for _, c := range []struct {
		name, request, status string
	}{
		{"post", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "405"},
		{"body", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", "400"},
		{"chunked", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
		{"http/1.0", "GET / HTTP/1.0\r\n\r\n", "400"},
		{"huge", "GET / HTTP/1.1\r\n" + strings.Repeat("X-Filler: "+strings.Repeat("a", 1000)+"\r\n", 66) + "\r\n", "400"},
	} {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		go io.WriteString(conn, c.request)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		io.Copy(io.Discard, res.Body)
		if got := res.Status[:3]; got != c.status {
			t.Errorf("%s: status %s, want %s", c.name, res.Status, c.status)
		}
		// Then the connection ends.
		if n, err := conn.Read(make([]byte, 1)); err == nil {
			t.Errorf("%s: read %d bytes after the refusal, want the connection closed", c.name, n)
		}
		conn.Close()
	}
}

// withConnTrace records, per request of ctx, whether its connection was
// "new" or "reused".
func withConnTrace(ctx context.Context, conns *[]string) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		*conns = append(*conns, map[bool]string{true: "reused", false: "new"}[info.Reused])
	}})
}
