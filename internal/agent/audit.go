package agent

import (
	"context"
	"github.com/devmgr/devmgr/internal/agent/api"
	"net/http"
	"strconv"
	"time"

	"github.com/devmgr/devmgr/internal/auditlog"
)

// AuditLog is an Auditor that can also list what it recorded: the agent's
// own log (auditlog.Log), served as GET /v1/audit.
type AuditLog interface {
	Auditor
	List(ctx context.Context, f auditlog.Filter) ([]auditlog.Entry, error)
}

// NewAuditLog is the agent's own audit log, l (auditlog.Open on
// agent.state_dir), as an AuditLog.
func NewAuditLog(l *auditlog.Log) AuditLog { return logAuditor{l} }

// logAuditor adapts auditlog.Log to AuditLog.
type logAuditor struct{ l *auditlog.Log }

func (a logAuditor) Audit(ctx context.Context, e AuditEntry) error {
	return a.l.Append(ctx, auditlog.Entry{User: e.User, Source: e.Source, Action: e.Action, Target: e.Target, Result: e.Result, Detail: e.Detail})
}

func (a logAuditor) List(ctx context.Context, f auditlog.Filter) ([]auditlog.Entry, error) {
	return a.l.List(ctx, f)
}

// Query parameters of GET /v1/audit: user, action (a prefix), result,
// since and until (RFC 3339; since inclusive, until exclusive), limit (at
// most auditlog.MaxLimit). Entries come newest first.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ Actor) error {
	if s.cfg.AuditLog == nil {
		return errorf(http.StatusServiceUnavailable, "", "this agent keeps no audit log of its own")
	}
	q := r.URL.Query()
	f := auditlog.Filter{User: q.Get("user"), Action: q.Get("action"), Result: q.Get("result")}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return errorf(http.StatusBadRequest, p.name, "%q is not an RFC 3339 time", clip(v))
			}
			*p.t = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > api.MaxAuditLimit {
			return errorf(http.StatusBadRequest, "limit", "%q is not a number from 1 to %d", clip(v), api.MaxAuditLimit)
		}
		f.Limit = n
	}
	entries, err := s.cfg.AuditLog.List(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]api.AuditRecord, 0, len(entries))
	for _, e := range entries {
		out = append(out, api.AuditRecord{Time: e.Time, User: e.User, Source: e.Source, Action: e.Action, Target: e.Target, Result: e.Result, Detail: e.Detail})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
