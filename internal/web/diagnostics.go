package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/devmgr/devmgr/internal/agent"
	"github.com/devmgr/devmgr/internal/diag"
	"github.com/devmgr/devmgr/internal/dnsmasq"
)

// streamWriteTimeout bounds a streamed diagnostic's answer; the server's
// write timeout is shorter than a 30-hop traceroute (the agent stops it
// after 70 s).
const streamWriteTimeout = 3 * time.Minute

type diagnosticsData struct {
	AgentDown string
	Error     string
	Neighbors []diag.Neighbor
	Leases    []dnsmasq.Lease
	DNSTypes  []string
	Now       time.Time
}

func (s *Server) diagnosticsPage(w http.ResponseWriter, r *http.Request) {
	d := diagnosticsData{DNSTypes: diag.DNSTypes, Now: time.Now()}
	a := s.actor(r)
	var err error
	if d.Neighbors, err = s.agent.Neighbors(r.Context(), a); err == nil {
		d.Leases, err = s.agent.Leases(r.Context(), a)
	}
	if err != nil {
		down, msg := s.pageAgentError(r, err)
		if down {
			d.AgentDown = msg
		} else {
			d.Error = msg
		}
	}
	s.render(w, r, http.StatusOK, "diagnostics", "Diagnostics", d)
}

// relay runs a streamed diagnostic and passes its output on as
// newline-delimited JSON (agent.StreamEvent), each line flushed as it
// comes. An error before the first line (bad input, agent down) is an
// ordinary JSON error answer.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, run func(ctx context.Context, line func(string)) (diag.Result, error)) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	started := false
	enc := json.NewEncoder(w)
	send := func(ev agent.StreamEvent) {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("X-Accel-Buffering", "no") // nginx passes each line on at once
			w.WriteHeader(http.StatusOK)
		}
		_ = enc.Encode(ev)
		_ = rc.Flush()
	}
	res, err := run(r.Context(), func(l string) { send(agent.StreamEvent{Type: agent.EventLine, Text: l}) })
	switch {
	case err == nil:
		code := res.ExitCode
		send(agent.StreamEvent{Type: agent.EventDone, ExitCode: &code, DurationMS: res.DurationMS})
	case started || errors.Is(err, agent.ErrDiagnostic):
		send(agent.StreamEvent{Type: agent.EventError, Error: err.Error(), DurationMS: res.DurationMS})
	default:
		s.agentError(w, r, err)
	}
}

func (s *Server) apiPing(w http.ResponseWriter, r *http.Request) {
	var req diag.PingRequest
	if !decodeBody(w, r, &req) {
		return
	}
	a := s.actor(r)
	s.relay(w, r, func(ctx context.Context, line func(string)) (diag.Result, error) {
		return s.agent.Ping(ctx, a, req, line)
	})
}

func (s *Server) apiTraceroute(w http.ResponseWriter, r *http.Request) {
	var req diag.TracerouteRequest
	if !decodeBody(w, r, &req) {
		return
	}
	a := s.actor(r)
	s.relay(w, r, func(ctx context.Context, line func(string)) (diag.Result, error) {
		return s.agent.Traceroute(ctx, a, req, line)
	})
}

func (s *Server) apiDNS(w http.ResponseWriter, r *http.Request) {
	var req diag.DNSRequest
	if !decodeBody(w, r, &req) {
		return
	}
	res, err := s.agent.DNS(r.Context(), s.actor(r), req)
	s.agentReply(w, r, http.StatusOK, res, err)
}

func (s *Server) apiNeighbors(w http.ResponseWriter, r *http.Request) {
	ns, err := s.agent.Neighbors(r.Context(), s.actor(r))
	agentList(s, w, r, ns, err)
}

func (s *Server) apiLeases(w http.ResponseWriter, r *http.Request) {
	ls, err := s.agent.Leases(r.Context(), s.actor(r))
	agentList(s, w, r, ls, err)
}
