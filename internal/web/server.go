// Package web is devmgr's console: the HTML pages, the JSON API under
// /api/v1/, sessions, login and its throttle, CSRF defence, security headers
// and the HTTPS listener. The route table is in routes.go, the middleware
// in middleware.go, and each page group has its own file.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/devmgr/devmgr/internal/accounts"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/procmem"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/tlsutil"
)

// Config is what New needs to build a Server.
type Config struct {
	// Config is the validated devmgr configuration (required). The server
	// uses data_dir, web.* and ap.{hostname,domain,address}.
	Config config.Config
	// DB is the open store (required): users, sessions, throttle, tokens, audit.
	DB *store.DB
	// Logger receives the server's log (required).
	Logger *slog.Logger
	// Clock returns the current time; nil means time.Now. Session idle and
	// absolute timeouts and the throttle use it, so tests can move time.
	Clock func() time.Time
	// SysInfo is where the dashboard reads the system's state; nil reads
	// this host (/proc, /etc/os-release, net.Interfaces).
	SysInfo SysInfo
	// Agent is the privileged agent behind the Network and Diagnostics
	// pages (an *agent.Client on agent.socket); nil: those pages say the
	// agent is not running.
	Agent Agent
}

// Server is the console. Build it with New, then call ListenAndServe, or
// Serve with a listener of your own, or use Handler directly.
type Server struct {
	cfg      config.Config
	db       *store.DB
	log      *slog.Logger
	now      func() time.Time
	sys      SysInfo
	agent    Agent
	sessions *scs.SessionManager
	throttle *auth.Throttle
	accounts *accounts.Service
	// loginLocks makes a login's throttle check, password check and
	// recorded failure one step per username and per source address.
	loginLocks keyedLocks
	// hashes is the queue of login attempts' password checks.
	hashes *hashQueue
	// loginKey signs the login form's tokens (per process).
	loginKey []byte
	// sleep waits out a login delay; tests replace it.
	sleep func(context.Context, time.Duration) error
	// verify and verifyDummy check a login's password (auth's by
	// default); tests replace them.
	verify      func(hash, password string) (bool, error)
	verifyDummy func(password string)
	views       *views
	handler     http.Handler
	// oneTime keeps the passwords of admins' resets for one display.
	oneTime oneTimePasswords
	// system is the dashboard's system part as last rendered.
	system systemCache
	// dashboards is the dashboard's data kept per role.
	dashboards dashboards
	// idle gives memory back once requests stop (Serve runs it).
	idle *procmem.Idle
}

// SessionCookie is the name of the session cookie. The __Host- prefix makes
// browsers insist on Secure, Path=/ and no Domain.
const SessionCookie = "__Host-devmgr"

// New checks cfg, parses the templates, creates the first admin when the
// store has no users, and builds the handler.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.DB == nil:
		return nil, errors.New("web: Config.DB is required")
	case cfg.Logger == nil:
		return nil, errors.New("web: Config.Logger is required")
	case cfg.Config.DataDir == "":
		return nil, errors.New("web: Config.Config.DataDir is required")
	}
	s := &Server{
		cfg:   cfg.Config,
		db:    cfg.DB,
		log:   cfg.Logger,
		now:   cfg.Clock,
		sys:   cfg.SysInfo,
		agent: cfg.Agent,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sys == nil {
		s.sys = newHostSys(HostSysInfo{DiskPath: s.cfg.DataDir})
	}
	if s.agent == nil {
		s.agent = noAgent{}
	}
	s.throttle = auth.NewThrottle(s.db, s.now)
	var err error
	s.accounts, err = accounts.New(accounts.Config{DB: s.db, Log: s.log, DataDir: s.cfg.DataDir, Clock: s.now})
	if err != nil {
		return nil, err
	}
	s.hashes = newHashQueue(2*runtime.GOMAXPROCS(0), hashQueueDepth)
	s.loginKey = newLoginKey()
	s.idle = procmem.NewIdle(s.log)
	s.sleep = sleepCtx
	s.verify = auth.VerifyPassword
	s.verifyDummy = auth.VerifyDummy

	if s.views, err = parseViews(); err != nil {
		return nil, err
	}

	sm := scs.New()
	// No sm.IdleTimeout: it would write the session on every request;
	// idleStore and sessionIdentity keep the idle expiry instead.
	sm.Store = idleStore{SessionStore: s.db.SessionStore(), idle: s.cfg.Web.Session.IdleTimeout}
	sm.Codec = sessionCodec{}
	sm.Lifetime = s.cfg.Web.Session.Lifetime
	sm.Cookie.Name = SessionCookie
	sm.Cookie.HttpOnly = true
	// Secure even when nginx terminates TLS in front of a plain-HTTP listener:
	// the browser talks HTTPS to nginx, and __Host- requires it.
	sm.Cookie.Secure = true
	sm.Cookie.SameSite = http.SameSiteStrictMode
	sm.Cookie.Path = "/"
	sm.Cookie.Persist = false
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		s.log.Error("session store", "path", r.URL.Path, "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
	}
	s.sessions = sm

	if err := s.accounts.EnsureInitialAdmin(context.Background()); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the console's HTTP handler with all middleware applied.
func (s *Server) Handler() http.Handler { return s.handler }

// Timeouts of the HTTP servers.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	shutdownTimeout   = 10 * time.Second
)

// ListenAndServe listens on web.listen (and web.redirect_listen when set)
// and serves until ctx is done, then shuts down gracefully.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Web.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Web.Listen, err)
	}
	var rln net.Listener
	if s.cfg.Web.RedirectListen != "" && !s.cfg.Web.TLS.Disable {
		rln, err = lc.Listen(ctx, "tcp", s.cfg.Web.RedirectListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening on %s: %w", s.cfg.Web.RedirectListen, err)
		}
	}
	return s.Serve(ctx, ln, rln)
}

// Serve serves the console on ln (HTTPS unless web.tls.disable) and, when
// redirect is not nil, redirects plain HTTP on it to HTTPS, until ctx is done.
func (s *Server) Serve(ctx context.Context, ln, redirect net.Listener) error {
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errLog,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	scheme := "http"
	if !s.cfg.Web.TLS.Disable {
		tc, err := s.tlsConfig()
		if err != nil {
			ln.Close()
			if redirect != nil {
				redirect.Close()
			}
			return err
		}
		srv.TLSConfig = tc
		scheme = "https"
	}
	servers := []*http.Server{srv}
	ictx, stopIdle := context.WithCancel(ctx)
	defer stopIdle()
	go s.idle.Run(ictx)
	errc := make(chan error, 2)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	s.log.Info("serving the console", "url", scheme+"://"+ln.Addr().String())
	if redirect != nil {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		rs := &http.Server{
			Handler:           redirectHandler(port),
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			ErrorLog:          errLog,
		}
		servers = append(servers, rs)
		go func() { errc <- rs.Serve(redirect) }()
		s.log.Info("redirecting plain HTTP to HTTPS", "addr", redirect.Addr().String())
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	for _, hs := range servers {
		if e := hs.Shutdown(sctx); e != nil && err == nil {
			err = fmt.Errorf("shutting down: %w", e)
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.log.Info("console stopped")
	return err
}

// redirectHandler sends every request to the same host and path over HTTPS
// on port.
func redirectHandler(port string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" {
			http.Error(w, "missing Host header", http.StatusBadRequest)
			return
		}
		target := "https://" + net.JoinHostPort(host, port)
		if port == "443" {
			target = "https://" + host
			if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
				target = "https://[" + host + "]"
			}
		}
		http.Redirect(w, r, target+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
}

// tlsConfig loads the configured certificate or generates (once) and loads
// a self-signed one under data_dir/tls.
func (s *Server) tlsConfig() (*tls.Config, error) {
	cert, key := s.cfg.Web.TLS.Cert, s.cfg.Web.TLS.Key
	if cert == "" {
		dir := filepath.Join(s.cfg.DataDir, "tls")
		var generated bool
		var err error
		cert, key, generated, err = tlsutil.EnsureSelfSigned(dir, s.certNames(), s.now())
		if err != nil {
			return nil, err
		}
		if generated {
			s.log.Info("generated a self-signed certificate", "cert", cert)
		}
	}
	return tlsutil.ServerConfig(cert, key)
}

// certNames are the names a browser may use to reach the console.
func (s *Server) certNames() tlsutil.Names {
	host, _ := os.Hostname()
	hosts := []string{host, s.cfg.FQDN(), "localhost", "127.0.0.1", "::1"}
	if p := s.cfg.APPrefix(); p.IsValid() {
		hosts = append(hosts, p.Addr().String())
	}
	if h, _, err := net.SplitHostPort(s.cfg.Web.Listen); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	return tlsutil.NewNames(hosts...)
}
