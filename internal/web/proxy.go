package web

import (
	"mime"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/config"
)

// eventsWriteTimeout bounds a run's event stream: the longest a command
// may run, and a minute for the rest.
const eventsWriteTimeout = config.MaxCommandTimeout + time.Minute

// agentRoutes are the console's routes for the agent's API: every route
// api.Routes marks Web, as /api/v1/..., for the same least role, served
// by one reverse proxy. Nothing else of the agent is reachable.
func (s *Server) agentRoutes() []route {
	var out []route
	for _, rt := range api.Routes {
		if rt.Web {
			out = append(out, route{rt.WebPattern(), role, rt.Min, s.agentProxy(rt)})
		}
	}
	return out
}

// agentProxy forwards one route to the agent over its socket: the path
// without /api, the query, the body and its content type, an event
// stream's Last-Event-ID, and the actor (user, role, client address) in
// the agent's headers; no cookie or token of the browser reaches the
// agent. Streams (NDJSON, text/event-stream) are flushed as they come.
func (s *Server) agentProxy(rt api.Route) http.HandlerFunc {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			in := pr.In
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = "http", "agent", "agent"
			pr.Out.URL.Path = strings.TrimPrefix(in.URL.Path, "/api")
			pr.Out.URL.RawPath = strings.TrimPrefix(in.URL.RawPath, "/api")
			pr.Out.URL.RawQuery = in.URL.RawQuery
			h := http.Header{}
			if ct := in.Header.Get("Content-Type"); ct != "" {
				h.Set("Content-Type", ct)
			}
			if id := in.Header.Get(api.HeaderLastEventID); rt.Events && id != "" {
				h.Set(api.HeaderLastEventID, id) // an event stream resumes after it
			}
			a := s.actor(in)
			h.Set(api.HeaderUser, a.User)
			h.Set(api.HeaderRole, string(a.Role))
			h.Set(api.HeaderSource, a.Source)
			pr.Out.Header = h
		},
		Transport: s.agent.Transport(),
		// Streams are flushed as they come; other answers go out whole,
		// with their headers in the same write.
		FlushInterval: flushInterval(rt),
		BufferPool:    proxyBuffers{},
		ModifyResponse: func(resp *http.Response) error {
			// The console sets these on every answer (front); the proxy
			// adds the agent's values to the console's, which would give
			// them twice.
			for _, f := range apiHeaders {
				resp.Header.Del(f.name)
			}
			if rt.Stream || rt.Events {
				resp.Header.Set("X-Accel-Buffering", "no") // nginx passes each line on at once
			}
			return nil
		},
		ErrorHandler: s.agentError,
		ErrorLog:     nil,
	}
	return func(w http.ResponseWriter, r *http.Request) {
		// A body is JSON: no HTML form can send that across origins
		// without a preflight, whatever else fails.
		if r.ContentLength != 0 && r.Method != http.MethodGet {
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, jsonOnly, "")
				return
			}
		}
		switch {
		case rt.Stream:
			// The server's write timeout is shorter than a 30-hop
			// traceroute (the agent stops it after 70 s); a reset's
			// progress resumes after the last event a client saw.
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		case rt.Events:
			// A run's events last as long as the command may run.
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(eventsWriteTimeout))
		case rt.Download:
			// A backup or the overlay's changes, as large as they are.
			longTask(w)
		}
		if k, ok := s.agent.(keeper); ok && r.Method == http.MethodGet && !rt.Stream && !rt.Events && !rt.Download {
			// What the proxy would copy from the kept answer, without it.
			if status, h, body, ok := k.Kept(string(me(r).Role), strings.TrimPrefix(r.URL.RequestURI(), "/api")); ok {
				writeKept(w, status, h, body)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}
}

// keeper is an agent client that keeps the answers of shared reads
// (agentclient.WithSharedReads) and gives them out.
type keeper interface {
	Kept(role, requestURI string) (status int, header http.Header, body []byte, ok bool)
}

// writeKept answers with a kept answer of the agent's: its status, its
// headers but those of its connection and its Date (net/http writes the
// time of this answer), and its body. The kept header is shared: its
// values are given capped, so that an Add to this answer's copies them.
func writeKept(w http.ResponseWriter, status int, h http.Header, body []byte) {
	out := w.Header()
	for k, vv := range h {
		switch k {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Date":
			continue
		}
		out[k] = vv[:len(vv):len(vv)]
	}
	out.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func flushInterval(rt api.Route) time.Duration {
	if rt.Stream || rt.Events {
		return -1
	}
	return 0
}

// proxyBuffers lends the proxy its copy buffers instead of one made per
// request.
type proxyBuffers struct{}

var proxyBufferPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (proxyBuffers) Get() []byte  { return *proxyBufferPool.Get().(*[]byte) }
func (proxyBuffers) Put(b []byte) { proxyBufferPool.Put(&b) }
