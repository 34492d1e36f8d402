package web

import (
	"github.com/devmgr/devmgr/internal/agent/api"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/store"
)

const auditPageSize = 50

type auditData struct {
	Filter       store.AuditFilter
	Since, Until string // as typed, YYYY-MM-DD
	Errors       map[string]string
	Actions      []string
	Results      []string
	Entries      []store.AuditEntry
	// AgentNote says why the agent's entries are missing, when they are.
	AgentNote string
	Page      int
	PrevURL   string
	NextURL   string
}

// auditFilter reads the filter and page from the query string.
func auditFilter(q url.Values) (f store.AuditFilter, page int, errs map[string]string) {
	errs = map[string]string{}
	f.User = strings.TrimSpace(q.Get("user"))
	f.Action = q.Get("action")
	f.Result = q.Get("result")
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			errs["since"] = "Use a date such as 2026-01-31."
		}
		f.Since = t
	}
	if v := q.Get("until"); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			errs["until"] = "Use a date such as 2026-01-31."
		} else {
			f.Until = t.AddDate(0, 0, 1) // the whole day
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		errs["until"] = "The end date is before the start date."
	}
	page, _ = strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	f.Limit = auditPageSize + 1 // one more tells whether there is a next page
	f.Offset = (page - 1) * auditPageSize
	return f, page, errs
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, page, errs := auditFilter(q)
	d := auditData{
		Filter: f, Since: q.Get("since"), Until: q.Get("until"), Errors: errs,
		Actions: auditActions, Results: auditlog.Results, Page: page,
	}
	status := http.StatusOK
	if len(errs) == 0 {
		entries, note, err := s.listAudit(r, f)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		d.AgentNote = note
		if len(entries) > auditPageSize {
			entries = entries[:auditPageSize]
			d.NextURL = pageURL("/audit", q, page+1)
		}
		d.Entries = entries
		if page > 1 {
			d.PrevURL = pageURL("/audit", q, page-1)
		}
	} else {
		status = http.StatusUnprocessableEntity
	}
	s.render(w, r, status, "audit", "Audit log", d)
}

// pageURL is path with q's filter on another page.
func pageURL(path string, q url.Values, page int) string {
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	v.Set("page", strconv.Itoa(page))
	return path + "?" + v.Encode()
}

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) {
	f, _, errs := auditFilter(r.URL.Query())
	for field, msg := range errs {
		writeError(w, http.StatusBadRequest, msg, field)
		return
	}
	entries, _, err := s.listAudit(r, f)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if len(entries) > auditPageSize {
		entries = entries[:auditPageSize]
	}
	if entries == nil {
		entries = []store.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, entries)
}

// listAudit returns the page f selects of both audit logs, the console's
// and the agent's, merged newest first. When the agent's cannot be read,
// note says so and the console's entries come alone.
func (s *Server) listAudit(r *http.Request, f store.AuditFilter) (entries []store.AuditEntry, note string, err error) {
	// Both logs give everything up to the end of the page; the merge
	// then skips the offset.
	window := f
	window.Offset, window.Limit = 0, min(f.Offset+f.Limit, auditlog.MaxLimit)
	mine, err := s.db.ListAudit(r.Context(), window)
	if err != nil {
		return nil, "", err
	}
	if _, none := s.agent.(noAgent); none {
		return pageOf(mine, f), "", nil
	}
	theirs, err := s.agent.Audit(r.Context(), s.actor(r), api.AuditQuery{
		User: f.User, Action: f.Action, Result: f.Result, Since: f.Since, Until: f.Until, Limit: window.Limit,
	})
	if err != nil {
		return pageOf(mine, f), "The agent's entries are not shown. " + s.agentState(r, err).Message, nil
	}
	all := make([]store.AuditEntry, 0, len(mine)+len(theirs))
	all = append(all, mine...)
	for _, e := range theirs {
		all = append(all, store.AuditEntry{Time: e.Time, User: e.User, Source: e.Source, Action: e.Action,
			Target: e.Target, Result: e.Result, Detail: e.Detail})
	}
	slices.SortStableFunc(all, func(a, b store.AuditEntry) int { return b.Time.Compare(a.Time) })
	return pageOf(all, f), "", nil
}

// pageOf is entries[f.Offset : f.Offset+f.Limit], clamped.
func pageOf(entries []store.AuditEntry, f store.AuditFilter) []store.AuditEntry {
	lo := min(max(f.Offset, 0), len(entries))
	hi := min(lo+f.Limit, len(entries))
	return entries[lo:hi]
}
