package agent

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/backup"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/dhcpsrv"
	"github.com/devmgr/devmgr/internal/netif"
)

// AuditChanges is the change engine's OnFinish: a change rolled back (not
// confirmed in time, not applicable, or pending when the agent stopped)
// is the agent's own action and goes into the audit log as it happens. A
// confirm is audited by its request, with the user who made it.
func AuditChanges(audit Auditor, log *slog.Logger) func(change.Change) {
	return func(ch change.Change) {
		if ch.Status != change.StatusRolledBack {
			return
		}
		action, target, what := actRollback, ch.Target, "change "+ch.ID
		switch ch.Kind {
		case apmgr.Kind:
			action, target = actAPRollback, apTarget
			what += " (" + strings.Join(ch.Fields, ", ") + ")"
		case dhcpsrv.Kind:
			action, target = actAPDHCPRollback, dhcpTarget
			what += " (" + strings.Join(ch.Fields, ", ") + ")"
		case backup.KindRestore:
			action, target = actBackupRestoreRollback, "device"
		case netif.Kind: // network.rollback of its interface
		default:
			action = ch.Kind + ".rollback"
		}
		result, detail := "ok", what+" "+rollbackWhy(ch)
		if ch.Error != "" {
			result, detail = "failed", detail+": "+ch.Error
		}
		e := AuditEntry{User: "agent", Source: "local", Action: action, Target: target, Result: result, Detail: detail}
		if err := audit.Audit(context.Background(), e); err != nil {
			log.Error("writing audit entry", "action", action, "target", target, "err", err)
		}
	}
}

// AuditRejected is the OnRejected of a module's journal (change engine,
// netif, apmgr): a file that failed validation when it was read back was
// set aside, not applied, and the agent's audit log says so.
func AuditRejected(ctx context.Context, audit Auditor, log *slog.Logger, module string) func(file, reason string) {
	return func(file, reason string) {
		if err := audit.Audit(ctx, AuditEntry{User: "agent", Source: "local", Action: actRejected,
			Target: module + ":" + file, Result: "failed", Detail: "set aside, not applied: " + reason}); err != nil {
			log.Error("writing audit entry", "action", actRejected, "err", err)
		}
	}
}

// rollbackWhy says why the engine rolled ch back, for the audit log.
func rollbackWhy(ch change.Change) string {
	switch ch.Reason {
	case change.ReasonRestart:
		return "was pending when the agent stopped"
	case change.ReasonApplyFailed:
		return "could not be applied"
	default:
		return "not confirmed before " + ch.RollbackAt.UTC().Format(time.RFC3339)
	}
}
