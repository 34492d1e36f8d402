package main

// The floor: devmgr-bench run again as a minimal Go HTTPS server (net/http
// and crypto/tls, built by the same toolchain as devmgr, the console's TLS
// config and http.Server timeouts), which answers every GET with devmgr's
// /api/v1/me body. Its CPU per request, req/s and one-connection p50 on
// /api/v1/me are the least any Go console could reach on this machine,
// measured in the same run and by the same code as devmgr and Flask.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/devmgr/devmgr/internal/tlsutil"
)

const (
	// serveFloorArg, as devmgr-bench's first argument, followed by the
	// address and the directory of the pair and body, runs the floor
	// server instead of the bench. It is not a flag of the bench's own.
	serveFloorArg = "-serve-floor"
	floorBodyFile = "body"
	floorPath     = "/api/v1/me"
)

// serveFloor is devmgr-bench -serve-floor ADDR DIR: it serves HTTPS on
// ADDR with DIR's cert.pem and key.pem, answering every GET with DIR's
// body, until SIGTERM or SIGINT.
func serveFloor(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: devmgr-bench %s ADDR DIR", serveFloorArg)
	}
	addr, dir := args[0], args[1]
	body, err := os.ReadFile(filepath.Join(dir, floorBodyFile))
	if err != nil {
		return err
	}
	tc, err := tlsutil.ServerConfig(filepath.Join(dir, tlsutil.CertFile), filepath.Join(dir, tlsutil.KeyFile))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// The console's http.Server settings (internal/web.Server.Serve).
	srv := &http.Server{
		Handler:           floorHandler(body),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         tc,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// floorHandler answers every GET (and HEAD) with body as JSON: no
// routing, authentication or middleware.
func floorHandler(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	})
}

// floorBody fetches devmgr's answer to /api/v1/me for the signed-in bench
// user: the floor answers with the same bytes.
func floorBody(ctx context.Context, t target) ([]byte, error) {
	c := client()
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+floorPath, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Cookie", t.cookie)
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s %.200s", floorPath, res.Status, b)
	}
	return b, nil
}

// startFloor runs the floor (this program, again) on a free port with a
// new self-signed pair and body in tmp/floor, as cred when set (the
// console's account). It sends cookie, which it ignores, so that wrk's
// requests are devmgr's to the byte.
func startFloor(ctx context.Context, tmp string, body []byte, cookie string, cred *syscall.Credential, logs io.Writer) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(tmp, "floor")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if _, _, err := writeSelfSigned(dir, cred); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, floorBodyFile), body, 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(tmp, "floor.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, serveFloorArg, "127.0.0.1:"+strconv.Itoa(port), dir)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = io.MultiWriter(logf, logs), io.MultiWriter(logf, logs)
	p, err := startProc("the floor", cmd, cred)
	if err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{p: p, cred: cred, logf: logf}
	s.name = "floor"
	s.base = fmt.Sprintf("https://127.0.0.1:%d", port)
	s.cookie = cookie
	s.endpoints = []string{floorPath}
	s.procs = func() map[int]string { return map[int]string{p.pid(): "floor"} }
	if err := waitHealthz(ctx, s.base, p); err != nil {
		b, _ := os.ReadFile(logf.Name())
		return s, fmt.Errorf("%w\nlast lines of the floor:\n%s", err, tail(b, 30))
	}
	return s, nil
}

// measureFloor captures devmgr's /api/v1/me answer, then starts the floor
// with it and measures it on that endpoint under both wrk loads.
func measureFloor(ctx context.Context, o options, tmp string, dm *server, logs io.Writer) (*result, int, error) {
	body, err := floorBody(ctx, dm.target)
	if err != nil {
		return nil, 0, fmt.Errorf("devmgr's answer: %w", err)
	}
	log.Printf("starting the floor (devmgr-bench %s: net/http + crypto/tls answering devmgr's %d-byte %s)", serveFloorArg, len(body), floorPath)
	fl, err := startFloor(ctx, tmp, body, dm.cookie, dm.cred, logs)
	if fl != nil {
		defer fl.stop()
	}
	if err != nil {
		return nil, 0, err
	}
	r, err := measure(ctx, o, fl.target)
	if err != nil {
		return nil, 0, err
	}
	return r, len(body), nil
}
