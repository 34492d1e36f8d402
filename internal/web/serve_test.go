package web

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveReal runs the server on real listeners, as devmgr serve does.
func serveReal(t *testing.T, h *harness, withRedirect bool) (addr, redirectAddr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var rln net.Listener
	if withRedirect {
		if rln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		redirectAddr = rln.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.srv.Serve(ctx, ln, rln) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return errors.New("Serve did not return after cancel")
		}
	}
	t.Cleanup(func() { stop() })
	return ln.Addr().String(), redirectAddr, stop
}

func TestServeTLSAndRedirect(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	addr, raddr, stop := serveReal(t, h, true)

	insecure := func(min, max uint16) *http.Client {
		return &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, MinVersion: min, MaxVersion: max},
				ForceAttemptHTTP2: true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	res, err := insecure(tls.VersionTLS12, tls.VersionTLS12).Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "ok\n" || res.TLS == nil {
		t.Errorf("healthz over TLS 1.2 = %q", b)
	}
	cert := res.TLS.PeerCertificates[0]
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("certificate: %v", err)
	}
	if err := cert.VerifyHostname("device.local"); err != nil {
		t.Errorf("certificate: %v", err)
	}
	if res, err := insecure(tls.VersionTLS13, tls.VersionTLS13).Get("https://" + addr + "/healthz"); err != nil {
		t.Errorf("TLS 1.3: %v", err)
	} else {
		if res.ProtoMajor != 2 {
			t.Errorf("protocol %s, want HTTP/2", res.Proto)
		}
		res.Body.Close()
	}
	if _, err := insecure(tls.VersionTLS10, tls.VersionTLS11).Get("https://" + addr + "/healthz"); err == nil {
		t.Errorf("TLS 1.1 accepted")
	}
	if res, err := insecure(0, 0).Get("http://" + addr + "/healthz"); err == nil && res.StatusCode == http.StatusOK {
		t.Errorf("plain HTTP served on the TLS port")
	}

	_, rport, _ := net.SplitHostPort(raddr)
	_, port, _ := net.SplitHostPort(addr)
	req, _ := http.NewRequest(http.MethodGet, "http://"+raddr+"/users?x=1", nil)
	req.Host = "device.local:" + rport
	res, err = insecure(0, 0).Do(req)
	if err != nil {
		t.Fatalf("redirect listener: %v", err)
	}
	res.Body.Close()
	if want := "https://device.local:" + port + "/users?x=1"; res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != want {
		t.Errorf("redirect = %d %q, want 301 %q", res.StatusCode, res.Header.Get("Location"), want)
	}

	if err := stop(); err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}

	// The generated pair is kept and reused.
	certFile := filepath.Join(h.cfg.DataDir, "tls", "cert.pem")
	first, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	h2 := h.restart()
	addr, _, _ = serveReal(t, h2, false)
	res, err = insecure(0, 0).Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !res.TLS.PeerCertificates[0].Equal(cert) {
		t.Errorf("restart made a new certificate")
	}
	again, _ := os.ReadFile(certFile)
	if string(again) != string(first) {
		t.Errorf("certificate file rewritten")
	}
	if !strings.Contains(h.logBuf.String(), "generated a self-signed certificate") {
		t.Errorf("generation not logged")
	}
}

func TestRedirectHandler(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ port, host, want string }{
		{"443", "device.local", "https://device.local/"},
		{"443", "192.168.4.1:80", "https://192.168.4.1/"},
		{"8443", "[::1]:8080", "https://[::1]:8443/"},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
		req.Host = tc.host
		rec := newRecorder()
		redirectHandler(tc.port).ServeHTTP(rec, req)
		if got := rec.Header().Get("Location"); got != tc.want {
			t.Errorf("host %s port %s: Location %q, want %q", tc.host, tc.port, got, tc.want)
		}
	}
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func TestServePlainHTTPBehindProxy(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	cfg.Web.TLS.Disable = true // config validation allows this on loopback only
	h := startHarness(t, cfg, newFakeClock())
	addr, _, _ := serveReal(t, h, false)
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("plain HTTP: %d, HSTS %q (nginx sets it)", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "tls")); err == nil {
		t.Errorf("a certificate was generated with TLS disabled")
	}
	// The audit source is nginx's X-Real-IP, trusted only from loopback.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	r.Header.Set("X-Real-IP", "192.168.4.7")
	if got := h.srv.clientAddr(r); got != "192.168.4.7" {
		t.Errorf("clientAddr behind nginx = %q", got)
	}
	r.RemoteAddr = "10.0.0.9:5555"
	if got := h.srv.clientAddr(r); got != "10.0.0.9" {
		t.Errorf("clientAddr from a non-loopback peer = %q, want the peer", got)
	}
}
