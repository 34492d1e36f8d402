package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/fielderr"
	"net/http"
	"time"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/backup"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/commands"
	"github.com/devmgr/devmgr/internal/dhcpsrv"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/reset"
)

// Errors of the agent's own making.
var (
	errNoNetwork = errorf(http.StatusServiceUnavailable, "", "network interfaces are not available in this agent")
	errBusy      = errorf(http.StatusTooManyRequests, "", "too many diagnostics running; try again shortly")
	// errAPDown answers an AP request that hostapd did not answer. The
	// cause names the control socket's path and the dial error: the
	// request's log line keeps it (every 5xx is logged), the user gets
	// what to do. The AP's status says why it is down (apmgr.Status).
	errAPDown = errorf(http.StatusServiceUnavailable, "",
		"the access point (hostapd) is not running or not answering, so this was not done; "+
			"its status (the Access point page, or devmgr ap status) says why and how to start it")
)

// changeNouns name the modules' changes in a refusal while one is pending.
var changeNouns = map[string]string{netif.Kind: "network", apmgr.Kind: "access-point", dhcpsrv.Kind: "DHCP"}

// pendingError is the 409 of a change refused while another is pending.
func pendingError(pe *change.PendingError) *Error {
	ch := pe.Change
	noun := changeNouns[ch.Kind]
	if noun == "" {
		noun = ch.Kind
	}
	return errorf(http.StatusConflict, "", "%s change %s is pending until %s: confirm it or wait for its rollback first",
		noun, ch.ID, ch.RollbackAt.UTC().Format(time.RFC3339))
}

// fieldErrors is the 400 of a request with bad fields: the first as Field,
// all of them in Fields.
func fieldErrors(es fielderr.List) *Error {
	e := errorf(http.StatusBadRequest, es[0].Field, "%s", es[0].Message)
	for _, f := range es {
		e.Fields = append(e.Fields, api.FieldProblem{Field: f.Field, Message: f.Message})
	}
	return e
}

// toError maps an error to its HTTP answer.
func (s *Server) toError(err error) *Error {
	var e *Error
	var pe *change.PendingError
	var fl fielderr.List
	var fe *fielderr.Error
	var pe2 *netif.ProtectedError
	var mb *http.MaxBytesError
	var ue *dhcpsrv.UnavailableError
	var busy *commands.BusyError
	var running *commands.AlreadyRunningError
	var missing *commands.NotInstalledError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &busy):
		return errorf(http.StatusTooManyRequests, "", "%s", busy.Error())
	case errors.As(err, &running):
		e := errorf(http.StatusConflict, "", "%s", running.Error())
		e.RunID = running.RunID
		return e
	case errors.As(err, &missing):
		return errorf(http.StatusServiceUnavailable, "", "%s on this device: the command cannot run (its package may be missing)", missing.Error())
	case errors.Is(err, commands.ErrForbidden):
		return errorf(http.StatusForbidden, "", "%s", err.Error())
	case errors.Is(err, commands.ErrUnknownCommand):
		return errorf(http.StatusNotFound, "id", "%s", err.Error())
	case errors.Is(err, commands.ErrNotFound):
		return errorf(http.StatusNotFound, "id", "%s", err.Error())
	case errors.As(err, &ue):
		return errorf(http.StatusServiceUnavailable, "", "%s", ue.Why)
	case errors.As(err, &pe):
		return pendingError(pe)
	case errors.As(err, &fl) && len(fl) > 0:
		return fieldErrors(fl)
	case errors.As(err, &fe):
		return errorf(http.StatusBadRequest, fe.Field, "%s", fe.Message)
	case errors.As(err, &mb):
		return errorf(http.StatusRequestEntityTooLarge, "", "the body is larger than %d bytes", mb.Limit)
	case errors.As(err, &pe2):
		return errorf(http.StatusForbidden, "name", "%s", pe2.Error())
	case errors.Is(err, netif.ErrNotFound):
		return errorf(http.StatusNotFound, "name", "%s", err.Error())
	case errors.Is(err, change.ErrUnknownChange):
		return errorf(http.StatusNotFound, "id", "%s", err.Error())
	case errors.Is(err, change.ErrPending), errors.Is(err, change.ErrNotPending), errors.Is(err, apmgr.ErrNoChange), errors.Is(err, netif.ErrNoChange),
		errors.Is(err, dhcpsrv.ErrNoChange):
		return errorf(http.StatusConflict, "", "%s", err.Error())
	case errors.Is(err, apmgr.ErrNotDenied):
		return errorf(http.StatusNotFound, "mac", "%s", err.Error())
	case errors.Is(err, apmgr.ErrNotRunning):
		return errAPDown
	case errors.Is(err, backup.ErrNoRoom):
		// A backup or upload, or a restore's pre-restore backup: the
		// text says what is free and where to free space.
		return errorf(http.StatusInsufficientStorage, "", "%s", err.Error())
	case errors.Is(err, reset.ErrConfirm):
		return errorf(http.StatusBadRequest, "confirm", "%s", err.Error())
	case errors.Is(err, reset.ErrNotConfigured), errors.Is(err, reset.ErrRefused), errors.Is(err, reset.ErrRunning),
		errors.Is(err, reset.ErrUnfinished):
		// The refusals say what to do; none has touched anything.
		return errorf(http.StatusConflict, "", "%s", err.Error())
	}
	// The rest are the agent's own failures: their text names files and
	// commands of the device, which is for the agent's log, not for a
	// browser.
	ref := newRef()
	s.log.Error("request failed", "ref", ref, "err", err)
	return errorf(http.StatusInternalServerError, "", "the agent could not do this (reference %s in its log)", ref)
}

// newRef is a short random reference that ties an answer to a log line.
func newRef() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// jsonError says which field of a body could not be decoded, in a
// sentence about it.
func jsonError(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return err
	}
	fe := fielderr.FromJSON(err)
	return errorf(http.StatusBadRequest, fe.Field, "%s", fe.Message)
}
