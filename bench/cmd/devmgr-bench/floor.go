package main

// The floor: devmgr-bench run again as a minimal Go HTTPS server (net/http
// and crypto/tls, built by the same toolchain as devmgr, the console's TLS
// config and http.Server timeouts), which answers GET /api/v1/me with
// devmgr's /api/v1/me answer and GET / with devmgr's dashboard page, both
// captured for the signed-in bench user, headers (but Date, which net/http
// writes) and body, and 404 elsewhere: the same bytes as devmgr's answers. Its CPU per
// request, req/s, one-connection p50, and p99 and memory under many
// connections, on those two paths are the least any Go console could reach
// on this machine, measured in the same run and by the same code as devmgr
// and Flask.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devmgr/devmgr/internal/tlsutil"
)

const (
	// serveFloorArg, as devmgr-bench's first argument, followed by the
	// address and the directory of the pair and bodies, runs the floor
	// server instead of the bench. It is not a flag of the bench's own.
	serveFloorArg = "-serve-floor"
)

// floorPage is one of the floor's answers: devmgr's to path, captured
// during the run, kept in file (the body) and file+".header" (the
// header, as on the wire) of the floor's directory.
type floorPage struct {
	path, file string
	what       string // "answer", "dashboard page": for the report
}

// floorAnswer is devmgr's answer to a floor page's path.
type floorAnswer struct {
	header http.Header
	body   []byte
}

const headerSuffix = ".header"

var floorPages = []floorPage{
	{path: "/api/v1/me", file: "me.json", what: "answer"},
	{path: "/", file: "index.html", what: "dashboard page"},
}

// floorPaths are the paths the floor answers, in floorPages' order.
func floorPaths() []string {
	var out []string
	for _, pg := range floorPages {
		out = append(out, pg.path)
	}
	return out
}

// serveFloor is devmgr-bench -serve-floor ADDR DIR: it serves HTTPS on
// ADDR with DIR's cert.pem and key.pem, answering GET on each of
// floorPages' paths with its file of DIR, until SIGTERM or SIGINT.
func serveFloor(args []string) error {
	ln, tc, answers, err := floorSetup(serveFloorArg, args)
	if err != nil {
		return err
	}
	// The console's http.Server settings (internal/web.Server.Serve).
	srv := &http.Server{
		Handler:           floorHandler(answers),
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

// floorSetup is what a floor's arguments (ADDR DIR) give: a listener on
// ADDR, the TLS config of DIR's cert.pem and key.pem, and DIR's answers.
func floorSetup(arg string, args []string) (net.Listener, *tls.Config, map[string]floorAnswer, error) {
	if len(args) != 2 {
		return nil, nil, nil, fmt.Errorf("usage: devmgr-bench %s ADDR DIR", arg)
	}
	addr, dir := args[0], args[1]
	answers, err := loadFloor(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	tc, err := tlsutil.ServerConfig(filepath.Join(dir, tlsutil.CertFile), filepath.Join(dir, tlsutil.KeyFile))
	if err != nil {
		return nil, nil, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, nil, err
	}
	return ln, tc, answers, nil
}

// loadFloor reads the answers of floorPages from dir, each a file (the
// body) and its header (file+headerSuffix), by path.
func loadFloor(dir string) (map[string]floorAnswer, error) {
	answers := map[string]floorAnswer{}
	for _, pg := range floorPages {
		b, err := os.ReadFile(filepath.Join(dir, pg.file))
		if err != nil {
			return nil, err
		}
		hb, err := os.ReadFile(filepath.Join(dir, pg.file+headerSuffix))
		if err != nil {
			return nil, err
		}
		h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(hb))).ReadMIMEHeader()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pg.file+headerSuffix, err)
		}
		answers[pg.path] = floorAnswer{http.Header(h), b}
	}
	return answers, nil
}

// floorHandler answers GET (and HEAD) on each path of answers with its
// header and body, 404 on any other path: routing by exact path, no
// authentication or middleware. The header's values are set as they are
// (as devmgr sets its fixed headers), not copied.
func floorHandler(answers map[string]floorAnswer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pg, ok := answers[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		for k, v := range pg.header {
			h[k] = v
		}
		w.WriteHeader(http.StatusOK)
		w.Write(pg.body)
	})
}

// floorBody fetches devmgr's answer to path for the signed-in bench user:
// the floor answers path with the same bytes (its header without Date).
func floorBody(ctx context.Context, t target, path string) (floorAnswer, error) {
	c := client()
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+path, nil)
	if err != nil {
		return floorAnswer{}, err
	}
	req.Header.Set("Cookie", t.cookie)
	res, err := c.Do(req)
	if err != nil {
		return floorAnswer{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return floorAnswer{}, err
	}
	if res.StatusCode != http.StatusOK {
		return floorAnswer{}, fmt.Errorf("GET %s: %s %.200s", path, res.Status, b)
	}
	h := res.Header.Clone()
	h.Del("Date")
	return floorAnswer{h, b}, nil
}

// floorKind is one of the floors: the argument that runs it, its name in
// the log and its directory.
type floorKind struct{ arg, name, dir string }

var (
	httpFloor = floorKind{serveFloorArg, "floor", "floor"}
	tlsFloor  = floorKind{serveTLSFloorArg, "TLS floor", "floor-tls"}
)

// startFloor runs a floor (this program, again) on a free port with a
// new self-signed pair and answers (path → devmgr's answer) in its
// directory of tmp, as cred when set (the console's account). It sends
// cookie, which it ignores, so that wrk's requests are devmgr's to the
// byte.
func startFloor(ctx context.Context, kind floorKind, tmp string, answers map[string]floorAnswer, cookie string, cred *syscall.Credential, logs io.Writer) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(tmp, kind.dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if _, _, err := writeSelfSigned(dir, cred); err != nil {
		return nil, err
	}
	for _, pg := range floorPages {
		a := answers[pg.path]
		if err := os.WriteFile(filepath.Join(dir, pg.file), a.body, 0o644); err != nil {
			return nil, err
		}
		var hb bytes.Buffer
		a.header.Write(&hb)
		hb.WriteString("\r\n")
		if err := os.WriteFile(filepath.Join(dir, pg.file+headerSuffix), hb.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(tmp, kind.dir+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, kind.arg, "127.0.0.1:"+strconv.Itoa(port), dir)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = io.MultiWriter(logf, logs), io.MultiWriter(logf, logs)
	p, err := startProc("the "+kind.name, cmd, cred)
	if err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{p: p, cred: cred, logf: logf}
	s.name = kind.name
	s.base = fmt.Sprintf("https://127.0.0.1:%d", port)
	s.cookie = cookie
	s.endpoints = floorPaths()
	s.procs = func() map[int]string { return map[int]string{p.pid(): kind.dir} }
	// It has no /healthz: ready once it answers its first path.
	if err := waitOK(ctx, s.base+s.endpoints[0], p); err != nil {
		b, _ := os.ReadFile(logf.Name())
		return s, fmt.Errorf("%w\nlast lines of the %s:\n%s", err, kind.name, tail(b, 30))
	}
	return s, nil
}

// measureFloors captures devmgr's answers to floorPages' paths, then
// starts each floor with them in turn and measures it on those paths
// under both wrk loads; the floor also, with o.long, under o.longConn
// connections (no burst, settle or cold start: they have no logins, nor
// memory of their own to give back). It returns the floor's results, the
// TLS floor's, and the length of each answer by path.
func measureFloors(ctx context.Context, o options, tmp string, dm *server, logs io.Writer) (floor, tlsFloorRuns *result, lens map[string]int, err error) {
	answers, lens := map[string]floorAnswer{}, map[string]int{}
	var what []string
	for _, pg := range floorPages {
		a, err := floorBody(ctx, dm.target, pg.path)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("devmgr's answer: %w", err)
		}
		answers[pg.path], lens[pg.path] = a, len(a.body)
		what = append(what, fmt.Sprintf("%d-byte %s", len(a.body), pg.path))
	}
	log.Printf("starting the floor (devmgr-bench %s: net/http + crypto/tls answering devmgr's %s)", serveFloorArg, strings.Join(what, " and "))
	if floor, err = runFloor(ctx, o, httpFloor, tmp, answers, dm, logs); err != nil {
		return nil, nil, nil, fmt.Errorf("floor: %w", err)
	}
	log.Printf("starting the TLS floor (devmgr-bench %s: crypto/tls alone, no net/http, answering the same bytes)", serveTLSFloorArg)
	if tlsFloorRuns, err = runFloor(ctx, o, tlsFloor, tmp, answers, dm, logs); err != nil {
		return nil, nil, nil, fmt.Errorf("TLS floor: %w", err)
	}
	return floor, tlsFloorRuns, lens, nil
}

// runFloor starts the floor of kind and measures it; the runs with many
// connections are the net/http floor's only (the targets they compare
// with are met by it).
func runFloor(ctx context.Context, o options, kind floorKind, tmp string, answers map[string]floorAnswer, dm *server, logs io.Writer) (*result, error) {
	fl, err := startFloor(ctx, kind, tmp, answers, dm.cookie, dm.cred, logs)
	if fl != nil {
		defer fl.stop()
	}
	if err != nil {
		return nil, err
	}
	r, err := measure(ctx, o, fl.target)
	if err != nil {
		return nil, err
	}
	if kind == httpFloor {
		if err := longRuns(ctx, o, r, fl.target); err != nil {
			return nil, err
		}
	}
	return r, nil
}
