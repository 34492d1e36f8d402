package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/devmgr/devmgr/internal/accounts"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
)

type userRow struct {
	store.User
	Self bool
}

type usersData struct {
	Users []userRow
	Roles []auth.Role
	Form  *form
	Error string
	Reset *oneTimePassword // just made by a reset, shown once
	// Abilities is what each role may do, from the route table.
	Abilities []roleAbility
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request) {
	d := usersData{Form: s.emptyAddForm(), Reset: s.oneTime.pop(s.sessions.PopString(r.Context(), keyResetRef), me(r).UserID, s.now())}
	s.renderUsersData(w, r, http.StatusOK, d)
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, status int, f *form, errMsg string) {
	s.renderUsersData(w, r, status, usersData{Form: f, Error: errMsg})
}

// renderUsersData renders the users page with d, filling in the users.
func (s *Server) renderUsersData(w http.ResponseWriter, r *http.Request, status int, d usersData) {
	users, err := s.db.ListUsers(r.Context())
	if err != nil {
		s.serverError(w, r, fmt.Errorf("listing users: %w", err))
		return
	}
	self := me(r)
	rows := make([]userRow, len(users))
	for i, u := range users {
		rows[i] = userRow{User: u, Self: u.ID == self.UserID}
	}
	d.Users, d.Roles, d.Abilities = rows, auth.Roles, roleAbilities(s.routeTable())
	s.render(w, r, status, "users", "Users", d)
}

func (s *Server) userAdd(w http.ResponseWriter, r *http.Request) {
	f := newForm(r, "name", "role")
	name := strings.TrimSpace(f.Values["name"])
	f.Values["name"] = name
	u, err := s.accounts.AddUser(r.Context(), s.accountActor(r), accounts.NewUser{
		Name: name, Role: f.Values["role"], MustChange: true,
		Password: r.PostFormValue("password"), Confirm: r.PostFormValue("confirm"),
	})
	var inv *accounts.Invalid
	if errors.As(err, &inv) {
		failAll(f, err)
		s.renderUsers(w, r, http.StatusUnprocessableEntity, f, "")
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.backToUsers(w, r, "success", fmt.Sprintf("Added %s (%s). They must choose a new password at first sign-in.", u.Name, u.Role))
}

// accountActor is the caller, as accounts audits it.
func (s *Server) accountActor(r *http.Request) accounts.Actor {
	a := accounts.Actor{Source: s.clientAddr(r)}
	if id := me(r); id != nil {
		a.User, a.UserID = id.Name, id.UserID
	}
	return a
}

// failAll marks on f every problem of an *accounts.Invalid err.
func failAll(f *form, err error) {
	var inv *accounts.Invalid
	if !errors.As(err, &inv) {
		return
	}
	for _, p := range inv.Problems {
		msg := sentence(p.Err)
		if errors.Is(p.Err, accounts.ErrExists) {
			msg = "A user with this name already exists."
		}
		f.fail(p.Field, msg)
	}
}

// backToUsers ends a POST of the Users page: a redirect to the page (a
// reload shows the page, never resubmits), with what happened in a flash.
func (s *Server) backToUsers(w http.ResponseWriter, r *http.Request, kind, text string) {
	if text != "" {
		s.setFlash(r, kind, text)
	}
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}

// targetUser loads the user named by the {id} path value; when there is
// none (deleted meanwhile), it goes back to the page itself.
func (s *Server) targetUser(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.backToUsers(w, r, "danger", "There is no such user.")
		return store.User{}, false
	}
	u, err := s.db.UserByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.backToUsers(w, r, "danger", "There is no such user any more: the list below is the current one.")
		return u, false
	}
	if err != nil {
		s.serverError(w, r, fmt.Errorf("loading user %d: %w", id, err))
		return u, false
	}
	return u, true
}

func (s *Server) userRole(w http.ResponseWriter, r *http.Request) {
	u, ok := s.targetUser(w, r)
	if !ok {
		return
	}
	nu, changed, err := s.accounts.SetRole(r.Context(), s.accountActor(r), u, r.PostFormValue("role"))
	var inv *accounts.Invalid
	switch {
	case errors.As(err, &inv):
		s.renderUsers(w, r, http.StatusUnprocessableEntity, s.emptyAddForm(), sentence(inv.Problems[0].Err))
		return
	case errors.Is(err, accounts.ErrLastAdmin):
		s.backToUsers(w, r, "danger", fmt.Sprintf("%s is the last admin; make another user admin first.", u.Name))
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	case !changed:
		s.backToUsers(w, r, "", "")
		return
	}
	if nu.ID == me(r).UserID {
		// A privilege change of our own: keep this session, under a new token.
		if err := s.sessions.RenewToken(r.Context()); err != nil {
			s.serverError(w, r, err)
			return
		}
		s.sessions.Put(r.Context(), keyEpoch, nu.SessionEpoch)
		if !nu.Role.AtLeast(auth.Admin) {
			s.setFlash(r, "info", fmt.Sprintf("Your role is now %s.", nu.Role))
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
	}
	s.backToUsers(w, r, "success", fmt.Sprintf("%s is now %s; their sessions were signed out.", u.Name, nu.Role))
}

func (s *Server) userReset(w http.ResponseWriter, r *http.Request) {
	u, ok := s.targetUser(w, r)
	if !ok {
		return
	}
	pw, err := s.accounts.ResetPassword(r.Context(), s.accountActor(r), u)
	if errors.Is(err, accounts.ErrSelf) {
		s.backToUsers(w, r, "danger", "Use Change password for your own account.")
		return
	}
	if err != nil {
		s.serverError(w, r, fmt.Errorf("resetting password of %s: %w", u.Name, err))
		return
	}
	// Not in a flash: the session row, the WAL and freed database pages
	// would keep the password after it was shown. The session holds only a
	// reference to it, in memory here, for the page after the redirect.
	ref := s.oneTime.put(oneTimePassword{Name: u.Name, Password: pw}, me(r).UserID, s.now())
	s.sessions.Put(r.Context(), keyResetRef, ref)
	s.backToUsers(w, r, "", "")
}

func (s *Server) userDelete(w http.ResponseWriter, r *http.Request) {
	u, ok := s.targetUser(w, r)
	if !ok {
		return
	}
	err := s.accounts.DeleteUser(r.Context(), s.accountActor(r), u)
	switch {
	case errors.Is(err, accounts.ErrSelf):
		s.backToUsers(w, r, "danger", "You cannot delete your own account.")
	case errors.Is(err, accounts.ErrLastAdmin):
		s.backToUsers(w, r, "danger", fmt.Sprintf("%s is the last admin and cannot be deleted.", u.Name))
	case err != nil:
		s.serverError(w, r, err)
	default:
		s.backToUsers(w, r, "success", fmt.Sprintf("Deleted %s.", u.Name))
	}
}

func (s *Server) emptyAddForm() *form {
	return &form{Values: map[string]string{"role": string(auth.Viewer)}, Errors: map[string]string{}}
}

// oneTimePassword is the password an admin's reset gave a user.
type oneTimePassword struct {
	Name     string
	Password string
}

// oneTimeTTL is how long a reset's password waits for its one display.
const oneTimeTTL = 5 * time.Minute

// oneTimePasswords keep the passwords of admins' resets in memory, each
// for one display on the page the reset redirects to; the admin's session
// holds only a random reference (keyResetRef), so that the password
// reaches neither the session's row nor the URL. The zero value is ready.
type oneTimePasswords struct {
	mu sync.Mutex
	m  map[string]oneTimeEntry
}

type oneTimeEntry struct {
	oneTimePassword
	owner   int64 // the admin who reset it
	expires time.Time
}

// put keeps p for owner and returns its reference.
func (o *oneTimePasswords) put(p oneTimePassword, owner int64, now time.Time) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]oneTimeEntry{}
	}
	for ref, e := range o.m {
		if !now.Before(e.expires) {
			delete(o.m, ref)
		}
	}
	ref := newToken()
	o.m[ref] = oneTimeEntry{oneTimePassword: p, owner: owner, expires: now.Add(oneTimeTTL)}
	return ref
}

// pop returns the password of ref for owner, once, and forgets it.
func (o *oneTimePasswords) pop(ref string, owner int64, now time.Time) *oneTimePassword {
	if ref == "" {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.m[ref]
	delete(o.m, ref)
	if !ok || e.owner != owner || !now.Before(e.expires) {
		return nil
	}
	return &e.oneTimePassword
}

// roleAbility is what a role may do beyond the role below it.
type roleAbility struct {
	Role, Below auth.Role // Below is "" for the least role
	Can         []string
}

// abilities say what the routes of an area let their users do, in the
// order the Users page lists them: the area is a route's first path
// segment (below /api/v1/), "read" for GET and "change" for the other
// methods. The page's summary of the roles is derived from the route table
// through these, so that it follows the routes; a route of an area without
// words appears as its pattern.
var abilities = []struct {
	areas []string
	words string
}{
	{[]string{"read dashboard", "read me", "read system"}, "see the dashboard: the system, the access point and the uplink at a glance"},
	{[]string{"read network", "read interfaces", "read changes", "read traffic"}, "see the network interfaces, their traffic and their changes"},
	{[]string{"read ap"}, "see the access point, its settings and its clients"},
	{[]string{"read dhcp"}, "see the DHCP leases of the access point"},
	{[]string{"read diagnostics", "read diag", "change diagnostics", "change diag"}, "run diagnostics: ping, traceroute, DNS lookups, the neighbour table"},
	{[]string{"read commands", "change commands", "read runs", "change runs"},
		"run the commands of the catalog that name their role, and follow, cancel and look back at their own runs (admins: everyone's)"},
	{[]string{"change network", "change interfaces", "change changes"}, "change network interfaces (addresses, up and down) and confirm the changes"},
	{[]string{"change ap"}, "change the access point's settings and block or allow its clients"},
	{[]string{"read users", "change users"}, "manage users: add them, change their roles, reset their passwords, delete them"},
	{[]string{"read audit"}, "read the audit log"},
	{[]string{"read backups", "change backups"}, "make, download, upload, restore and delete backups of the device's settings"},
	{[]string{"read system", "change system"}, "see the device's overlay and reset it to its factory state (the System page)"},
}

// ability is the words for what route pattern lets its users do, and
// their place in the list (len(abilities) for a pattern without words).
func ability(pattern string) (words string, rank int) {
	method, path, _ := strings.Cut(pattern, " ")
	path = strings.TrimPrefix(path, "/api/v1")
	area, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if area == "system" && strings.HasPrefix(rest, "backups") { // System → Backups: /system/backups/...
		area, _, _ = strings.Cut(rest, "/")
	}
	if area == "" || area == "{$}" {
		area = "dashboard"
	}
	kind := "change"
	if method == http.MethodGet {
		kind = "read"
	}
	for i, a := range abilities {
		if slices.Contains(a.areas, kind+" "+area) {
			return a.words, i
		}
	}
	return pattern, len(abilities)
}

// roleAbilities is what each role may do beyond the role below it, least
// role first, from routes (the route table, with the agent's routes and
// their least roles): each ability under the least role of its routes.
func roleAbilities(routes []route) []roleAbility {
	least := map[string]auth.Role{}
	rank := map[string]int{}
	var order []string
	for _, rt := range routes {
		if rt.access != role {
			continue
		}
		w, i := ability(rt.pattern)
		r, seen := least[w]
		if !seen {
			order = append(order, w)
			rank[w] = i
		}
		if !seen || r.AtLeast(rt.min) {
			least[w] = rt.min
		}
	}
	slices.SortStableFunc(order, func(a, b string) int { return rank[a] - rank[b] })
	out := make([]roleAbility, len(auth.Roles))
	for i, r := range auth.Roles {
		out[i].Role = r
		if i > 0 {
			out[i].Below = auth.Roles[i-1]
		}
		for _, w := range order {
			if least[w] == r {
				out[i].Can = append(out[i].Can, w)
			}
		}
	}
	return out
}
