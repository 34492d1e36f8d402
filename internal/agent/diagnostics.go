package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/devmgr/devmgr/internal/diag"
)

// acquire takes a diagnostics slot; release it when done.
func (s *Server) acquire() (release func(), err error) {
	select {
	case s.diagSem <- struct{}{}:
		return func() { <-s.diagSem }, nil
	default:
		return nil, errBusy
	}
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req diag.PingRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		s.auditErr(r, a, actPing, req.Host, err)
		return err
	}
	return s.stream(w, r, a, actPing, req.Host, "count "+strconv.Itoa(req.Count),
		func(ctx context.Context, line func(string)) (diag.Result, error) {
			return s.cfg.Diag.Ping(ctx, req, line)
		})
}

func (s *Server) traceroute(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req diag.TracerouteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		s.auditErr(r, a, actTraceroute, req.Host, err)
		return err
	}
	return s.stream(w, r, a, actTraceroute, req.Host, "max_hops "+strconv.Itoa(req.MaxHops),
		func(ctx context.Context, line func(string)) (diag.Result, error) {
			return s.cfg.Diag.Traceroute(ctx, req, line)
		})
}

// stream runs a validated diagnostic and streams its output as
// newline-delimited JSON events, flushing each line as it comes.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, a Actor, action, target, detail string,
	run func(ctx context.Context, line func(string)) (diag.Result, error)) error {
	release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	send := func(ev StreamEvent) {
		_ = enc.Encode(ev)
		_ = rc.Flush()
	}
	_ = rc.Flush()
	lines := 0
	res, err := run(r.Context(), func(l string) {
		lines++
		send(StreamEvent{Type: EventLine, Text: l})
	})
	if err != nil {
		s.audit(r.Context(), a, action, target, "failed", detail+": "+err.Error())
		send(StreamEvent{Type: EventError, Error: err.Error(), DurationMS: res.DurationMS})
		return nil
	}
	code := res.ExitCode
	result := "ok"
	if code != 0 {
		result = "failed"
	}
	s.audit(r.Context(), a, action, target, result, detail+"; exit "+strconv.Itoa(code))
	send(StreamEvent{Type: EventDone, ExitCode: &code, DurationMS: res.DurationMS})
	return nil
}

func (s *Server) dns(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req diag.DNSRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		s.auditErr(r, a, actDNS, req.Name, err)
		return err
	}
	release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	res, err := s.cfg.Diag.DNS(r.Context(), req)
	if err != nil {
		s.auditErr(r, a, actDNS, req.Name, err)
		return err
	}
	result := "ok"
	if res.Error != "" || res.RCode != "NOERROR" {
		result = "failed"
	}
	s.audit(r.Context(), a, actDNS, req.Name, result, "type "+req.Type+" server "+res.Server+" "+res.RCode+res.Error)
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) neighbors(w http.ResponseWriter, r *http.Request, _ Actor) error {
	ns, err := s.cfg.Diag.Neighbors(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ns)
	return nil
}

func (s *Server) leases(w http.ResponseWriter, r *http.Request, _ Actor) error {
	ls, err := s.cfg.Diag.Leases(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ls)
	return nil
}
