package agent

import (
	"net/http"
	"strings"
	"unicode"

	"github.com/devmgr/devmgr/internal/auth"
)

// Who may do what is api.Routes' Min per route. The web server checked
// the role already; the agent checks the role the web passes again per
// route. That guards against a
// mistake in the web's routing (a route that forgot its check), not
// against a compromised web process: whoever holds the socket can claim
// any role, admin included. The real limit is the API itself: it offers
// nothing beyond what an admin may do from the console (LAN interfaces
// only, never the AP's; validated settings; no free-form commands), and
// the agent never trusts a file the console account can write.
// Header value limits.
const (
	maxUserLen   = 128
	maxSourceLen = 128
)

// actorFrom reads and checks the actor headers.
func actorFrom(r *http.Request) (Actor, *Error) {
	a := Actor{User: r.Header.Get(HeaderUser), Role: auth.Role(r.Header.Get(HeaderRole)), Source: r.Header.Get(HeaderSource)}
	if a.User == "" {
		return a, errorf(http.StatusBadRequest, HeaderUser, "header is required: the acting user")
	}
	if len(a.User) > maxUserLen || !printable(a.User) {
		return a, errorf(http.StatusBadRequest, HeaderUser, "is not a user name (printable, at most %d bytes)", maxUserLen)
	}
	if !a.Role.Valid() {
		return a, errorf(http.StatusBadRequest, HeaderRole, "%q is not one of admin, operator, viewer", clip(string(a.Role)))
	}
	if len(a.Source) > maxSourceLen || !printable(a.Source) {
		return a, errorf(http.StatusBadRequest, HeaderSource, "is not a client address (printable, at most %d bytes)", maxSourceLen)
	}
	if a.Source == "" {
		a.Source = "local"
	}
	return a, nil
}

func printable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// allowedUIDs is who may connect: root and the web user.
type allowedUIDs struct {
	webUID  uint32
	hasWeb  bool
	webUser string
}

func (p allowedUIDs) allows(uid uint32) bool {
	return uid == 0 || p.hasWeb && uid == p.webUID
}
