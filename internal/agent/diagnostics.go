package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/diag"
)

// given reads an optional number of a request: left out is 0 (diag's
// default); a 0 that was sent is refused by check like any other value out
// of range, never silently taken as the default.
func given(v *int, check func(int) error) (int, error) {
	if v == nil {
		return 0, nil
	}
	if err := check(*v); err != nil {
		return 0, err
	}
	return *v, nil
}

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
	var in api.PingRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	count, err := given(in.Count, diag.CheckCount)
	if err != nil {
		s.auditErr(r, a, actPing, in.Host, err)
		return err
	}
	req := diag.PingRequest{Host: in.Host, Count: count}
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
	var in api.TracerouteRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	hops, err := given(in.MaxHops, diag.CheckMaxHops)
	if err != nil {
		s.auditErr(r, a, actTraceroute, in.Host, err)
		return err
	}
	req := diag.TracerouteRequest{Host: in.Host, MaxHops: hops}
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
	send := func(ev api.StreamEvent) {
		_ = enc.Encode(ev)
		_ = rc.Flush()
	}
	_ = rc.Flush()
	lines := 0
	res, err := run(r.Context(), func(l string) {
		lines++
		send(api.StreamEvent{Type: api.EventLine, Text: l})
	})
	if err != nil {
		s.audit(r.Context(), a, action, target, "failed", detail+": "+err.Error())
		send(api.StreamEvent{Type: api.EventError, Error: err.Error(), DurationMS: res.DurationMS})
		return nil
	}
	code := res.ExitCode
	result := "ok"
	if code != 0 {
		result = "failed"
	}
	s.audit(r.Context(), a, action, target, result, detail+"; exit "+strconv.Itoa(code))
	send(api.StreamEvent{Type: api.EventDone, ExitCode: &code, DurationMS: res.DurationMS})
	return nil
}

func (s *Server) dns(w http.ResponseWriter, r *http.Request, a Actor) error {
	var in api.DNSRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	req := diag.DNSRequest{Name: in.Name, Type: in.Type, Server: in.Server}
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
	writeJSON(w, http.StatusOK, wireDNS(res))
	return nil
}

func (s *Server) neighbors(w http.ResponseWriter, r *http.Request, _ Actor) error {
	ns, err := s.cfg.Diag.Neighbors(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireNeighbors(ns))
	return nil
}

func (s *Server) leases(w http.ResponseWriter, r *http.Request, _ Actor) error {
	ls, err := s.cfg.Diag.Leases(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireDHCPLeases(ls))
	return nil
}
