package web

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/accounts"
	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
)

// auditingAgent is fakeAgent with an audit log of its own.
type auditingAgent struct {
	fakeAgent
	entries []api.AuditRecord
	err     error
	asked   []api.AuditQuery
}

func (a *auditingAgent) Audit(_ context.Context, act api.Actor, f api.AuditQuery) ([]api.AuditRecord, error) {
	a.asked = append(a.asked, f)
	if act.Role != auth.Admin {
		return nil, &api.Error{Status: http.StatusForbidden, Message: "admin only"}
	}
	return a.entries, a.err
}

// The Audit page and API show both logs, merged newest first.
func TestAuditMergesAgentLog(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	ag := &auditingAgent{entries: []api.AuditRecord{
		{Time: base.Add(3 * time.Minute), User: "agent", Source: "local", Action: "agent.journal_rejected", Target: "network:network/pending.json", Result: "failed"},
		{Time: base.Add(1 * time.Minute), User: "alice", Source: "192.0.2.9", Action: "network.config", Target: "eth1", Result: "ok"},
	}}
	h := newAgentHarness(t, testConfig(t.TempDir()), ag)
	for i, target := range []string{"first", "third"} {
		if err := h.db.Audit(context.Background(), store.AuditEntry{Time: base.Add(time.Duration(2*i) * time.Minute), User: "cli", Source: "local",
			Action: accounts.ActUserAdd, Target: target, Result: resultOK}); err != nil {
			t.Fatal(err)
		}
	}
	h.addUser("alice", auth.Admin, userPassword)
	c := h.newClient()
	c.mustLogin("alice", userPassword)

	got := decode[[]store.AuditEntry](t, c.get("/api/v1/audit?since=2026-03-04&until=2026-03-04"))
	var order []string
	for _, e := range got {
		order = append(order, e.Target)
	}
	want := "network:network/pending.json third eth1 first"
	if strings.Join(order, " ") != want {
		t.Errorf("merged order %q, want %q", strings.Join(order, " "), want)
	}
	if f := ag.asked[len(ag.asked)-1]; f.Since.IsZero() || f.Limit == 0 {
		t.Errorf("the agent was asked %+v: the filter and the page's window must reach it", f)
	}
	page := c.get("/audit")
	if !strings.Contains(page.body, "agent.journal_rejected") || strings.Contains(page.body, `id="audit-agent-note"`) {
		t.Errorf("the page lacks the agent's entry or says it is missing")
	}

	ag.err = errors.Join(agentclient.ErrUnavailable)
	page = c.get("/audit")
	if page.status != http.StatusOK || !strings.Contains(page.body, `id="audit-agent-note"`) || !strings.Contains(page.body, `<td data-label="Target">third</td>`) {
		t.Errorf("with the agent down the page must show the console's entries and say the agent's are missing")
	}
}

// No agent at all: the console's log alone, no note.
func TestAuditWithoutAgent(t *testing.T) {
	t.Parallel()
	h := newAgentHarness(t, testConfig(t.TempDir()), agentclient.New(filepath.Join(t.TempDir(), "agent.sock")))
	h.addUser("alice", auth.Admin, userPassword)
	c := h.newClient()
	c.mustLogin("alice", userPassword)
	if r := c.get("/audit"); r.status != http.StatusOK || !strings.Contains(r.body, "login") {
		t.Errorf("audit page = %d", r.status)
	}
}
