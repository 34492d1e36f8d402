// Package agent is devmgr's privileged side: an HTTP API over a unix socket
// (mode 0660, group of the web user, peer credentials checked on every
// connection) that lists and changes network interfaces, manages the
// access point, runs diagnostics and the command catalog (Commands),
// keeps and restores the device's backups (Backups, internal/backup),
// queues the factory reset and shows its progress (Reset, reset.go),
// re-checking the acting user's role and recording every change,
// diagnostic, command run and backup in its own audit log.
//
// The API is declared once, in internal/agent/api: its wire types, and
// api.Routes with each route's least role (routes.go maps each to its
// handler; a route without one stops the start). internal/agent/client is
// the typed client; the console forwards the routes marked Web through
// one allow-listed proxy. wire.go turns the domain packages' values into
// the wire types, so no domain type's struct tags are the API.
//
// Network, AP and DHCP server changes go through one change engine
// (internal/change): the device has one pending change at a time, and a
// change of any module while another's is pending is 409. The engine's OnFinish
// (AuditChanges) records a rollback in the audit log as it happens.
//
// Every request but /v1/health carries X-Devmgr-User, X-Devmgr-Role and
// X-Devmgr-Source.
//
// This package is the server and its pieces; `devmgr agent`
// (cmd/devmgr/agent.go) composes the process from them and the domain
// packages: PrepareStateDir, the audit log (NewAuditLog, AuditChanges,
// AuditRejected), the LAN DNS servers for dnsmasq (NewLANDNS), the real
// Network (NetifNetwork), Traffic (NewTraffic) and Diagnostics (Tools),
// then New and ListenAndServe.
package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/devmgr/devmgr/internal/agent/api"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/diag"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/procmem"
)

// Network is the interface state the agent reads and changes;
// NetifNetwork is the real one.
type Network interface {
	List(ctx context.Context) ([]Interface, error)
	Get(ctx context.Context, name string) (Interface, error)
	// SetConfig and SetUp apply a change at once and roll it back unless
	// confirmed in time; errors are fielderr.List, netif.ErrProtected,
	// netif.ErrNotFound or a *change.PendingError (wrapped).
	SetConfig(ctx context.Context, name string, lc LinkConfig) (Change, error)
	SetUp(ctx context.Context, name string, up bool) (Change, error)
	Change(ctx context.Context, id string) (Change, error)
	Confirm(ctx context.Context, id string) (Change, error)
	Pending() (Change, bool)
}

// Diagnostics runs the diagnostics; Tools is the real one.
type Diagnostics interface {
	Ping(ctx context.Context, r diag.PingRequest, line func(string)) (diag.Result, error)
	Traceroute(ctx context.Context, r diag.TracerouteRequest, line func(string)) (diag.Result, error)
	DNS(ctx context.Context, r diag.DNSRequest) (diag.DNSResult, error)
	Neighbors(ctx context.Context) ([]diag.Neighbor, error)
	Leases(ctx context.Context) ([]dnsmasq.Lease, error)
}

// AuditEntry is one audit record the agent writes.
type AuditEntry struct {
	User, Source, Action, Target, Result, Detail string
}

// Auditor records audit entries (store.DB through an adapter).
type Auditor interface {
	Audit(ctx context.Context, e AuditEntry) error
}

// AuditorFunc adapts a function to Auditor.
type AuditorFunc func(ctx context.Context, e AuditEntry) error

// Audit implements Auditor.
func (f AuditorFunc) Audit(ctx context.Context, e AuditEntry) error { return f(ctx, e) }

// Config configures a Server.
type Config struct {
	// Socket is the unix socket path (config agent.socket). Required.
	Socket string
	// WebUser is the account devmgr serve runs as (config web.user): the
	// socket's group is its primary group and its uid may connect. When it
	// does not exist the socket is root-only (0600).
	WebUser string
	// Network reads and changes interfaces; nil answers 503 on those routes.
	Network Network
	// Traffic is the traffic history (NewTraffic), sampled while Serve
	// runs; nil: GET /v1/traffic answers 503 and interfaces carry no rates.
	Traffic Traffic
	// AP manages the access point (/v1/ap...); nil answers 503.
	AP AccessPoint
	// DHCP manages the AP's DHCP server (/v1/ap/dhcp...); nil answers 503.
	DHCP DHCPServer
	// Diag runs diagnostics. Required.
	Diag Diagnostics
	// Commands runs the command catalog (OpenCommands); nil answers 503
	// on the command routes.
	Commands *Commands
	// Backups makes, keeps and restores the device's backups
	// (NewBackups); nil answers 503 on the backup routes.
	Backups *Backups
	// Reset is the factory reset (a *reset.Resetter), LaunchReset runs
	// the reset it queued (ResetLauncher.Launch); without both the reset's
	// routes answer 503.
	Reset       Reset
	LaunchReset func(ctx context.Context) error
	// Audit records changes and diagnostics. Required.
	Audit Auditor
	// AuditLog serves GET /v1/audit; nil answers 503 there.
	AuditLog AuditLog
	Log      *slog.Logger // required
	// Version is reported by /v1/health.
	Version string
	// MaxDiagnostics bounds diagnostics running at once (default 4); more get 429.
	MaxDiagnostics int

	// lookupUser resolves WebUser (tests); nil: os/user.Lookup.
	lookupUser func(name string) (*user.User, error)
	// socketMode overrides the socket's mode (tests let other uids reach the
	// peer-credential check).
	socketMode os.FileMode
}

// Server is the agent's HTTP server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	allowed allowedUIDs
	gid     int // socket group; -1: root's
	diagSem chan struct{}
	handler http.Handler
	// idle gives memory back once requests stop (Serve runs it).
	idle *procmem.Idle
}

// changed answers a change that began (202) or was refused, and audits
// either: an ok entry's detail is detail.
func (s *Server) changed(w http.ResponseWriter, r *http.Request, a Actor, action, target string, ch any, detail string, err error) error {
	if err != nil {
		s.auditErr(r, a, action, target, err)
		return err
	}
	s.audit(r.Context(), a, action, target, "ok", detail)
	writeJSON(w, http.StatusAccepted, ch)
	return nil
}

// New checks cfg and resolves the web user.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Socket == "":
		return nil, errors.New("agent.New: Socket is required")
	case cfg.Diag == nil:
		return nil, errors.New("agent.New: Diag is required")
	case cfg.Audit == nil:
		return nil, errors.New("agent.New: Audit is required")
	case cfg.Log == nil:
		return nil, errors.New("agent.New: Log is required")
	}
	if cfg.lookupUser == nil {
		cfg.lookupUser = user.Lookup
	}
	if cfg.MaxDiagnostics <= 0 {
		cfg.MaxDiagnostics = 4
	}
	s := &Server{cfg: cfg, log: cfg.Log, gid: -1, diagSem: make(chan struct{}, cfg.MaxDiagnostics), idle: procmem.NewIdle(cfg.Log)}
	if cfg.WebUser != "" {
		u, err := cfg.lookupUser(cfg.WebUser)
		if err != nil {
			s.log.Warn("web user not found: agent socket is root-only", "user", cfg.WebUser, "err", err)
		} else {
			uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
			gid, err2 := strconv.Atoi(u.Gid)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("parsing uid %q / gid %q of user %s", u.Uid, u.Gid, cfg.WebUser)
			}
			s.allowed = allowedUIDs{webUID: uint32(uid), hasWeb: true, webUser: cfg.WebUser}
			s.gid = gid
		}
	} else {
		s.log.Warn("no web user configured: agent socket is root-only")
	}
	h, err := s.routes()
	if err != nil {
		return nil, err
	}
	s.handler = h
	return s, nil
}

// Handler is the API handler (behind the peer-credential check, which needs
// connections from Listen).
func (s *Server) Handler() http.Handler { return s.handler }

// ErrRunning is returned by Listen when another agent answers on the socket.
var ErrRunning = errors.New("another agent is running")

// Listen creates the socket: a stale one is removed, a live one is an
// error; the new socket gets its mode and group before it appears under
// its name, so no other user can ever reach it.
func (s *Server) Listen() (net.Listener, error) {
	path := s.cfg.Socket
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating socket directory: %w", err)
	}
	if err := checkSocketDir(dir); err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(dir, ".agent-sock-")
	if err != nil {
		return nil, fmt.Errorf("creating socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	tpath := filepath.Join(tmp, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tpath, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // the name moves; Serve removes the socket itself
	mode := os.FileMode(0o600)
	if s.gid >= 0 {
		mode = 0o660
		if err := os.Chown(tpath, 0, s.gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("setting group %d on %s: %w", s.gid, path, err)
		}
	}
	if s.cfg.socketMode != 0 {
		mode = s.cfg.socketMode
	}
	if err := os.Chmod(tpath, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("setting mode of %s: %w", path, err)
	}
	if err := os.Rename(tpath, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("placing socket %s: %w", path, err)
	}
	s.log.Info("agent listening", "socket", path, "mode", fmt.Sprintf("%04o", mode), "gid", s.gid, "web_user", s.allowed.webUser)
	return credListener{ln}, nil
}

// checkSocketDir refuses a socket directory that another user could
// change: the socket is made in a root-only directory inside it and given
// its group and mode there, then renamed into place, which is safe only
// when nobody else can rename or replace entries of dir.
func checkSocketDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking socket directory: %w", err)
	}
	uid, _ := owner(st)
	switch {
	case !st.IsDir():
		return fmt.Errorf("socket directory %s is not a directory (%s)", dir, st.Mode().Type())
	case uid != uint32(os.Geteuid()):
		return fmt.Errorf("socket directory %s is owned by uid %d, not by the agent's (%d): another user could replace the socket", dir, uid, os.Geteuid())
	case st.Mode().Perm()&0o022 != 0 && st.Mode()&fs.ModeSticky == 0:
		return fmt.Errorf("socket directory %s has mode %04o: others could replace the socket; make it 0755", dir, st.Mode().Perm())
	}
	return nil
}

// removeStale removes a socket nobody answers on; a live socket is
// ErrRunning and anything else at path is left alone and refused.
func removeStale(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking socket %s: %w", path, err)
	}
	if st.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("socket path %s exists and is not a socket; remove it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("socket %s: %w", path, ErrRunning)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("checking socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale socket %s: %w", path, err)
	}
	return nil
}

// ListenAndServe serves on the socket until ctx is done.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve serves ln and samples the traffic history until ctx is done,
// then shuts down (streams get 5 s to end), stops the sampling and
// removes the socket.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stopTraffic := s.runTraffic(ctx)
	defer stopTraffic()
	ictx, stopIdle := context.WithCancel(ctx)
	defer stopIdle()
	go s.idle.Run(ictx)
	srv := &http.Server{
		Handler:           s.handler,
		ConnContext:       connContext,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if serr := srv.Shutdown(sctx); serr != nil {
			s.log.Warn("closing agent connections that did not end", "err", serr)
			srv.Close()
		}
		cancel()
		err = <-errc
	}
	if rerr := os.Remove(s.cfg.Socket); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		s.log.Warn("removing agent socket", "err", rerr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("serving agent API: %w", err)
	}
	s.log.Info("agent stopped")
	return nil
}

// handler is an API handler; a returned error becomes the error answer.
type handler func(w http.ResponseWriter, r *http.Request, a Actor) error

// wrap checks the peer, the actor and its role for a route, then runs h.
func (s *Server) wrap(rt api.Route, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.idle.Seen(time.Now())
		p := peerFrom(r.Context())
		if p.err != nil || p.cred == nil || !s.allowed.allows(p.cred.Uid) {
			uid := int64(-1)
			var pid int32
			if p.cred != nil {
				uid, pid = int64(p.cred.Uid), p.cred.Pid
			}
			s.log.Warn("refused agent connection", "uid", uid, "pid", pid, "path", r.URL.Path, "err", p.err)
			w.Header().Set("Connection", "close")
			writeError(w, errorf(http.StatusForbidden, "", "uid %d may not use the agent (only root and the web user %q)", uid, s.allowed.webUser))
			return
		}
		var a Actor
		if rt.Min != "" {
			var aerr *Error
			if a, aerr = actorFrom(r); aerr != nil {
				writeError(w, aerr)
				return
			}
			if !a.Role.AtLeast(rt.Min) {
				if rt.Action != "" {
					s.audit(r.Context(), a, rt.Action, r.PathValue("name")+r.PathValue("id")+r.PathValue("mac"), "denied", "role "+string(a.Role))
				}
				s.log.Warn("refused agent request for role", "user", a.User, "role", a.Role, "need", rt.Min, "path", r.URL.Path)
				writeError(w, errorf(http.StatusForbidden, "", "role %s may not do this (needs %s)", a.Role, rt.Min))
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, cmp.Or(rt.MaxBody, maxBody))
		if a.User != "" {
			// The change engine records who began a change.
			r = r.WithContext(change.WithUser(r.Context(), a.User))
		}
		if err := h(w, r, a); err != nil {
			e := s.toError(err)
			if e.Status >= 500 {
				s.log.Error("agent request", "path", r.URL.Path, "user", a.User, "err", err)
			}
			writeError(w, e)
		}
	})
}

const maxBody = 64 << 10

func (s *Server) audit(ctx context.Context, a Actor, action, target, result, detail string) {
	e := AuditEntry{User: a.User, Source: a.Source, Action: action, Target: target, Result: result, Detail: detail}
	if err := s.cfg.Audit.Audit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("writing audit entry", "action", action, "target", target, "err", err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, e)
}

// decode reads one JSON object, strictly, into v.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, "", "the body must be a single JSON object")
	}
	return nil
}
