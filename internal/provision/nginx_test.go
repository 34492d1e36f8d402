package provision

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// siteForTest rewrites the rendered site to run in a test: listeners on
// loopback ports instead of 80 and 443 (no IPv6 ones), the throwaway pair
// in dir and the given upstream. Each rewrite must match exactly as often
// as the template has the directive, so a changed template fails here
// instead of going untested.
func siteForTest(t *testing.T, site []byte, dir, upstream string, httpPort, httpsPort int) []byte {
	t.Helper()
	rewrites := []struct {
		re   *regexp.Regexp
		n    int
		repl string
	}{
		{regexp.MustCompile(`(?m)^\s*listen \[::\]:\d+[^;]*;\n`), 2, ""},
		{regexp.MustCompile(`(?m)^(\s*listen )80;`), 1, fmt.Sprintf("${1}127.0.0.1:%d;", httpPort)},
		{regexp.MustCompile(`(?m)^(\s*listen )443( ssl[^;]*);`), 1, fmt.Sprintf("${1}127.0.0.1:%d${2};", httpsPort)},
		{regexp.MustCompile(`(?m)^(\s*proxy_pass )[^;]+;`), 1, "${1}" + upstream + ";"},
		{regexp.MustCompile(`(?m)^(\s*ssl_certificate )[^;]+;`), 1, "${1}" + filepath.Join(dir, "cert.pem") + ";"},
		{regexp.MustCompile(`(?m)^(\s*ssl_certificate_key )[^;]+;`), 1, "${1}" + filepath.Join(dir, "key.pem") + ";"},
	}
	for _, r := range rewrites {
		if n := len(r.re.FindAll(site, -1)); n != r.n {
			t.Fatalf("site has %d matches of %s, want %d:\n%s", n, r.re, r.n, site)
		}
		site = r.re.ReplaceAll(site, []byte(r.repl))
	}
	return site
}

// freePorts returns n TCP ports on 127.0.0.1 that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// startNginx runs nginx in the foreground on the site, with everything it
// writes (pid file, logs, temp paths) in a temp dir, and stops it when the
// test ends. It returns the HTTPS address once nginx accepts connections.
func startNginx(t *testing.T, bin string, site []byte, upstream string) string {
	t.Helper()
	dir := t.TempDir()
	// nginx's workers run as nobody when the master is root.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := throwawayCert()
	if err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 2)
	mainConf := nginxPrefixConf(dir, "worker_processes 1;\nevents { worker_connections 64; }")
	for name, b := range map[string][]byte{
		"site":       siteForTest(t, site, dir, upstream, ports[0], ports[1]),
		"nginx.conf": []byte(mainConf), "cert.pem": certPEM, "key.pem": keyPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group: the cleanup can reach a worker the master left.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	var dialErr error
	testutil.Eventually(t, 10*time.Second, func() bool {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s", err, out.String(), log)
		default:
		}
		var c net.Conn
		if c, dialErr = net.DialTimeout("tcp", addr, time.Second); dialErr != nil {
			return false
		}
		c.Close()
		return true
	}, func() string {
		return fmt.Sprintf("nginx does not accept connections on %s: %v\n%s", addr, dialErr, out.String())
	})
	return addr
}

// handshake connects to addr with cfg and returns the negotiated state.
func handshake(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.ConnectionState(), nil
}

// The rendered site, run by a real nginx in front of a stand-in console:
// every response carries HSTS (once, errors too), TLS 1.1 and CBC suites
// are refused, TLS 1.2 with AEAD and TLS 1.3 work.
func TestNginxSiteServesModernTLS(t *testing.T) {
	t.Parallel()
	testutil.SkipShort(t, "runs nginx")
	bin := testutil.RequireBinary(t, "nginx")
	const hsts = "max-age=63072000; includeSubDomains"
	for i, tc := range planCases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, files := planFor(t, i)
			var site []byte
			for _, f := range files {
				if f.Path == device.NginxSite {
					site = f.Content
				}
			}
			console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// The console sends its own HSTS over TLS; nginx's replaces it.
				w.Header().Set("Strict-Transport-Security", "max-age=1")
				if r.URL.Path != "/" {
					http.NotFound(w, r)
					return
				}
				fmt.Fprint(w, "console")
			})
			var backend *httptest.Server
			if c.Web.TLS.Disable {
				backend = httptest.NewServer(console)
			} else {
				backend = httptest.NewTLSServer(console)
			}
			t.Cleanup(backend.Close)
			addr := startNginx(t, bin, site, backend.URL)

			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the throwaway pair
			}}
			t.Cleanup(client.CloseIdleConnections)
			for _, tt := range []struct {
				path   string
				status int
				body   string
			}{{"/", http.StatusOK, "console"}, {"/missing", http.StatusNotFound, ""}} {
				res, err := client.Get("https://" + addr + tt.path)
				if err != nil {
					t.Fatalf("GET %s through nginx: %v", tt.path, err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != tt.status || tt.body != "" && string(body) != tt.body {
					t.Errorf("GET %s: %d %q, want %d %q", tt.path, res.StatusCode, body, tt.status, tt.body)
				}
				if got := res.Header.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != hsts {
					t.Errorf("GET %s: Strict-Transport-Security %q, want exactly [%q]", tt.path, got, hsts)
				}
			}

			insecure := func(cfg *tls.Config) *tls.Config {
				cfg.InsecureSkipVerify = true // the throwaway pair
				return cfg
			}
			for _, tt := range []struct {
				name    string
				cfg     *tls.Config
				version uint16
			}{
				{"TLS 1.3", insecure(&tls.Config{MinVersion: tls.VersionTLS13}), tls.VersionTLS13},
				{"TLS 1.2 AES-GCM", insecure(&tls.Config{MaxVersion: tls.VersionTLS12,
					CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}), tls.VersionTLS12},
				{"TLS 1.2 ChaCha20-Poly1305", insecure(&tls.Config{MaxVersion: tls.VersionTLS12,
					CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}), tls.VersionTLS12},
			} {
				st, err := handshake(addr, tt.cfg)
				if err != nil {
					t.Errorf("%s: %v", tt.name, err)
					continue
				}
				if st.Version != tt.version {
					t.Errorf("%s: negotiated %s", tt.name, tls.VersionName(st.Version))
				}
			}

			for _, tt := range []struct {
				name string
				cfg  *tls.Config
				want string // in the alert nginx sends
			}{
				{"TLS 1.1", insecure(&tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}), "protocol version"},
				{"TLS 1.2 CBC only", insecure(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
					tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
					tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
					tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
				}}), "handshake failure"},
			} {
				st, err := handshake(addr, tt.cfg)
				switch {
				case err == nil:
					t.Errorf("%s: accepted (%s, %s)", tt.name, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
				case !strings.Contains(err.Error(), "remote error: tls: "+tt.want):
					t.Errorf("%s: %v, want nginx's %q alert", tt.name, err, tt.want)
				}
			}
		})
	}
}
