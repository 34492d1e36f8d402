package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/web/ui"
)

// pages are the views; each is the layout, the parts every page may use
// (templates/parts*.html) plus templates/<name>.html. A page that does
// not parse fails New.
var pages = []string{"login", "password", "dashboard", "users", "audit", "error", "network", "diagnostics", "ap",
	"commands", "runs", "run", "backups", "restore", "system"}

// views holds the parsed templates and the static files' version hashes.
type views struct {
	pages  map[string]*template.Template
	static fs.FS
	hashes map[string]string // static file → short content hash, for cache busting
	// assets is the "assets" template rendered (it depends on nothing).
	assets template.HTML
	// nav holds the "nav-items" template rendered for each navKey: the
	// layout's parts that depend only on them, rendered once each instead
	// of on every page (a template's every action is a reflective call).
	nav sync.Map // navKey → template.HTML
	// skeletons are the layout rendered once per page and kind of user,
	// with the request's values filled in (skeleton.go).
	skeletons *skeletons
}

type navKey struct {
	nav        string
	role       auth.Role
	mustChange bool
}

// navItems is the "nav-items" template for a page and a user.
func (v *views) navItems(nav string, me *identity) (template.HTML, error) {
	k := navKey{nav, me.Role, me.MustChange}
	if h, ok := v.nav.Load(k); ok {
		return h.(template.HTML), nil
	}
	var b strings.Builder
	err := v.pages["error"].ExecuteTemplate(&b, "nav-items", view{Nav: nav, Me: &identity{Role: me.Role, MustChange: me.MustChange}})
	if err != nil {
		return "", err
	}
	h := template.HTML(b.String())
	v.nav.Store(k, h)
	return h, nil
}

func parseViews() (*views, error) {
	v := &views{pages: map[string]*template.Template{}, static: ui.Static(), hashes: map[string]string{}}
	err := fs.WalkDir(v.static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(v.static, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		v.hashes[p] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hashing static files: %w", err)
	}
	funcs := template.FuncMap{
		"static": func(name string) (string, error) {
			h, ok := v.hashes[name]
			if !ok {
				return "", fmt.Errorf("no static file %q", name)
			}
			return "/static/" + name + "?v=" + h, nil
		},
		"bytes":    humanBytes,
		"duration": humanDuration,
		"seconds":  func(n int64) string { return humanDuration(time.Duration(n) * time.Second) },
		"time":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		"date":     func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"label":    settingLabel,
		"assets":   func() template.HTML { return v.assets },
		"navItems": v.navItems,
	}
	for _, name := range pages {
		t, err := template.New(name).Funcs(funcs).ParseFS(ui.Templates(), "templates/layout.html", "templates/parts*.html", path.Join("templates", name+".html"))
		if err != nil {
			return nil, fmt.Errorf("parsing template %s: %w", name, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("template %s defines no content", name)
		}
		v.pages[name] = t
	}
	// A template cannot be cloned once it has run.
	if v.skeletons, err = newSkeletons(v.pages["error"]); err != nil {
		return nil, fmt.Errorf("the layout's skeleton: %w", err)
	}
	var b strings.Builder
	if err := v.pages["error"].ExecuteTemplate(&b, "assets", nil); err != nil {
		return nil, fmt.Errorf("rendering the assets: %w", err)
	}
	v.assets = template.HTML(b.String())
	return v, nil
}

// identity is who is making a request: a logged-in user or an API token.
type identity struct {
	UserID     int64 // 0 for a token
	Name       string
	Role       auth.Role
	MustChange bool
	Token      bool
	// SessionEnds is when the session ends unless the user acts.
	SessionEnds time.Time
}

// view is the data every page gets.
type view struct {
	Title string
	Nav   string
	Me    *identity
	CSRF  string
	Flash []flash
	Data  any
	// SessionLeft is the milliseconds until the session ends unless the
	// user acts; 0 without a session.
	SessionLeft int64
}

type flash struct {
	Kind string // a Bootstrap alert colour: success, danger, warning, info
	Text string
}

// render writes page name with status, buffering it so that a template
// error becomes a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	s.renderContent(w, r, status, name, title, data, nil)
}

// renderContent is render with the page's content rendered already
// (content not nil: the "content" template executed for this request's
// view would write those bytes).
func (s *Server) renderContent(w http.ResponseWriter, r *http.Request, status int, name, title string, data any, content []byte) {
	// The page is composed in a function of its own, whose frame is gone
	// when it is sent: the send (net/http writing the header) is the
	// deepest point of a request's stack, which then fits the 8 KiB a
	// goroutine starts with (a stack that grows is copied, and shrunk
	// again by the collector while the connection waits).
	if buf := s.composePage(w, r, status, name, title, data, content); buf != nil {
		sendHTML(w, status, buf)
		putBuffer(buf)
	}
}

// composePage is renderContent's page in a buffer to send and put back,
// or nil when it has answered itself (an error, or a page that is not its
// layout's skeleton).
func (s *Server) composePage(w http.ResponseWriter, r *http.Request, status int, name, title string, data any, content []byte) *bytes.Buffer {
	t, ok := s.views.pages[name]
	if !ok {
		s.serverError(w, r, fmt.Errorf("no page %q", name))
		return nil
	}
	v := view{Title: title, Nav: name, Me: me(r), CSRF: s.csrfToken(r), Data: data, Flash: s.popFlash(r)}
	if v.Me != nil && !v.Me.Token {
		v.SessionLeft = v.Me.SessionEnds.Sub(s.now()).Milliseconds()
	}
	if !fits(&v) {
		s.execute(w, r, status, t, "layout", v)
		return nil
	}
	sk, err := s.views.skeletons.get(keyOf(&v))
	if err != nil {
		s.serverError(w, r, err)
		return nil
	}
	if content == nil {
		cb := getBuffer()
		defer putBuffer(cb)
		if err := t.ExecuteTemplate(cb, "content", v); err != nil {
			s.serverError(w, r, fmt.Errorf("rendering %s: %w", name, err))
			return nil
		}
		content = cb.Bytes()
	}
	buf := getBuffer()
	buf.Grow(sk.size(&v, content))
	sk.write(buf, &v, content)
	return buf
}

// renderPart writes one named template of page without the layout: the
// part of a page that htmx polls or swaps, rendered by the template that
// renders it in the page, with the same view (and data) around it.
func (s *Server) renderPart(w http.ResponseWriter, r *http.Request, status int, page, name string, data any) {
	t, ok := s.views.pages[page]
	if !ok {
		s.serverError(w, r, fmt.Errorf("no page %q", page))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	s.execute(w, r, status, t, name, view{Nav: page, Me: me(r), CSRF: s.csrfToken(r), Data: data})
}

func (s *Server) execute(w http.ResponseWriter, r *http.Request, status int, t *template.Template, name string, data any) {
	buf := getBuffer()
	defer putBuffer(buf)
	if err := t.ExecuteTemplate(buf, name, data); err != nil {
		s.serverError(w, r, fmt.Errorf("rendering %s: %w", name, err))
		return
	}
	sendHTML(w, status, buf)
}

// sendHTML writes the HTML in buf with status and its length: sent whole,
// not in chunks.
func sendHTML(w http.ResponseWriter, status int, buf *bytes.Buffer) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// buffers are the buffers pages and JSON answers are written into before
// they are sent: one per request in flight, not one made per request.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer is the largest buffer kept for reuse: a rare long page
// (the audit log) does not pin its memory.
const maxPooledBuffer = 256 << 10

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	buffers.Put(b)
}

type errorPage struct {
	Status     int
	StatusText string
	Message    string
}

// errorPage answers with an HTML error page, or JSON under /api/.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if isAPI(r) {
		writeError(w, status, msg, "")
		return
	}
	s.render(w, r, status, "error", http.StatusText(status),
		errorPage{Status: status, StatusText: http.StatusText(status), Message: msg})
}

func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("serving request", "method", r.Method, "path", r.URL.Path, "err", err)
	if isAPI(r) {
		writeError(w, http.StatusInternalServerError, "internal server error", "")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	w.Write([]byte("internal server error\n"))
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// form is a submitted form's values and per-field errors, for re-rendering.
type form struct {
	Values map[string]string
	Errors map[string]string
	Error  string // about the whole form
}

func newForm(r *http.Request, fields ...string) *form {
	f := &form{Values: map[string]string{}, Errors: map[string]string{}}
	for _, k := range fields {
		f.Values[k] = r.PostFormValue(k)
	}
	return f
}

// Get returns a submitted value, for templates.
func (f *form) Get(k string) string {
	if f == nil {
		return ""
	}
	return f.Values[k]
}

func (f *form) fail(field, msg string) {
	if _, ok := f.Errors[field]; !ok {
		f.Errors[field] = msg
	}
}

func (f *form) ok() bool { return len(f.Errors) == 0 && f.Error == "" }

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanDuration(d time.Duration) string {
	d = d.Truncate(time.Minute)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	m := (d - h*time.Hour) / time.Minute
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, h, m)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	default:
		return fmt.Sprintf("%dm", m)
	}
}
