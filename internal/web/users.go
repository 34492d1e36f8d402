package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

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
	Reset *oneTimePassword // just made by a reset, shown in this answer only
}

// oneTimePassword is the password an admin's reset gave a user.
type oneTimePassword struct {
	Name     string
	Password string
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request) {
	s.renderUsers(w, r, http.StatusOK, &form{Values: map[string]string{"role": string(auth.Viewer)}, Errors: map[string]string{}}, "")
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
	d.Users, d.Roles = rows, auth.Roles
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
	s.setFlash(r, "success", fmt.Sprintf("Added %s (%s). They must choose a new password at first sign-in.", u.Name, u.Role))
	http.Redirect(w, r, "/users", http.StatusSeeOther)
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

// targetUser loads the user named by the {id} path value, answering 404 itself.
func (s *Server) targetUser(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.errorPage(w, r, http.StatusNotFound, "No such user.")
		return store.User{}, false
	}
	u, err := s.db.UserByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.errorPage(w, r, http.StatusNotFound, "No such user.")
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
		s.renderUsers(w, r, http.StatusConflict, s.emptyAddForm(),
			fmt.Sprintf("%s is the last admin; make another user admin first.", u.Name))
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	case !changed:
		http.Redirect(w, r, "/users", http.StatusSeeOther)
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
	s.setFlash(r, "success", fmt.Sprintf("%s is now %s; their sessions were signed out.", u.Name, nu.Role))
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}

func (s *Server) userReset(w http.ResponseWriter, r *http.Request) {
	u, ok := s.targetUser(w, r)
	if !ok {
		return
	}
	pw, err := s.accounts.ResetPassword(r.Context(), s.accountActor(r), u)
	if errors.Is(err, accounts.ErrSelf) {
		s.renderUsers(w, r, http.StatusUnprocessableEntity, s.emptyAddForm(), "Use Change password for your own account.")
		return
	}
	if err != nil {
		s.serverError(w, r, fmt.Errorf("resetting password of %s: %w", u.Name, err))
		return
	}
	// Shown in this answer, not by a flash after a redirect: a flash is
	// session data, and the session row, the WAL and freed database pages
	// would keep the password after it was shown. The page is no-store.
	s.renderUsersData(w, r, http.StatusOK, usersData{Form: s.emptyAddForm(), Reset: &oneTimePassword{Name: u.Name, Password: pw}})
}

func (s *Server) userDelete(w http.ResponseWriter, r *http.Request) {
	u, ok := s.targetUser(w, r)
	if !ok {
		return
	}
	err := s.accounts.DeleteUser(r.Context(), s.accountActor(r), u)
	switch {
	case errors.Is(err, accounts.ErrSelf):
		s.renderUsers(w, r, http.StatusUnprocessableEntity, s.emptyAddForm(), "You cannot delete your own account.")
		return
	case errors.Is(err, accounts.ErrLastAdmin):
		s.renderUsers(w, r, http.StatusConflict, s.emptyAddForm(), fmt.Sprintf("%s is the last admin and cannot be deleted.", u.Name))
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	s.setFlash(r, "success", fmt.Sprintf("Deleted %s.", u.Name))
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}

func (s *Server) emptyAddForm() *form {
	return &form{Values: map[string]string{"role": string(auth.Viewer)}, Errors: map[string]string{}}
}
