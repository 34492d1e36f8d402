package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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
	Page         int
	PrevURL      string
	NextURL      string
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
		Actions: auditActions, Results: []string{resultOK, resultFail, resultThrottled}, Page: page,
	}
	status := http.StatusOK
	if len(errs) == 0 {
		entries, err := s.db.ListAudit(r.Context(), f)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		if len(entries) > auditPageSize {
			entries = entries[:auditPageSize]
			d.NextURL = pageURL(q, page+1)
		}
		d.Entries = entries
		if page > 1 {
			d.PrevURL = pageURL(q, page-1)
		}
	} else {
		status = http.StatusUnprocessableEntity
	}
	s.render(w, r, status, "audit", "Audit log", d)
}

func pageURL(q url.Values, page int) string {
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	v.Set("page", strconv.Itoa(page))
	return "/audit?" + v.Encode()
}

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) {
	f, _, errs := auditFilter(r.URL.Query())
	for field, msg := range errs {
		writeError(w, http.StatusBadRequest, msg, field)
		return
	}
	entries, err := s.db.ListAudit(r.Context(), f)
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
