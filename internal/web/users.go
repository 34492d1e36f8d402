package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

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
	password, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
	if err := auth.CheckUsername(name); err != nil {
		f.fail("name", sentence(err))
	}
	role, err := auth.ParseRole(f.Values["role"])
	if err != nil {
		f.fail("role", sentence(err))
	}
	if err := auth.CheckPassword(password); err != nil {
		f.fail("password", sentence(err))
	}
	if confirm != password {
		f.fail("confirm", "The passwords do not match.")
	}
	if f.ok() {
		hash, err := auth.HashPassword(password)
		if err != nil {
			s.serverError(w, r, fmt.Errorf("hashing password: %w", err))
			return
		}
		_, err = s.db.CreateUser(r.Context(), name, role, hash, true)
		switch {
		case errors.Is(err, store.ErrExists):
			f.fail("name", "A user with this name already exists.")
		case err != nil:
			s.serverError(w, r, fmt.Errorf("creating user %s: %w", name, err))
			return
		}
	}
	if !f.ok() {
		s.audit(r, "", actUserAdd, name, resultFail, joinErrors(f))
		s.renderUsers(w, r, http.StatusUnprocessableEntity, f, "")
		return
	}
	s.audit(r, "", actUserAdd, name, resultOK, "role "+string(role))
	s.setFlash(r, "success", fmt.Sprintf("Added %s (%s). They must choose a new password at first sign-in.", name, role))
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}

func joinErrors(f *form) string {
	var parts []string
	for k, v := range f.Errors {
		parts = append(parts, k+": "+v)
	}
	return strings.Join(parts, "; ")
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
	role, err := auth.ParseRole(r.PostFormValue("role"))
	if err != nil {
		s.audit(r, "", actUserRole, u.Name, resultFail, err.Error())
		s.renderUsers(w, r, http.StatusUnprocessableEntity, s.emptyAddForm(), sentence(err))
		return
	}
	if role == u.Role {
		http.Redirect(w, r, "/users", http.StatusSeeOther)
		return
	}
	nu, err := s.db.SetRole(r.Context(), u.ID, role)
	if errors.Is(err, store.ErrLastAdmin) {
		s.audit(r, "", actUserRole, u.Name, resultFail, "last admin")
		s.renderUsers(w, r, http.StatusConflict, s.emptyAddForm(),
			fmt.Sprintf("%s is the last admin; make another user admin first.", u.Name))
		return
	}
	if err != nil {
		s.serverError(w, r, fmt.Errorf("setting role of %s: %w", u.Name, err))
		return
	}
	s.audit(r, "", actUserRole, u.Name, resultOK, fmt.Sprintf("%s -> %s", u.Role, role))
	if nu.ID == me(r).UserID {
		// A privilege change of our own: keep this session, under a new token.
		if err := s.sessions.RenewToken(r.Context()); err != nil {
			s.serverError(w, r, err)
			return
		}
		s.sessions.Put(r.Context(), keyEpoch, nu.SessionEpoch)
		if !role.AtLeast(auth.Admin) {
			s.setFlash(r, "info", fmt.Sprintf("Your role is now %s.", role))
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
	}
	s.setFlash(r, "success", fmt.Sprintf("%s is now %s; their sessions were signed out.", u.Name, role))
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}

func (s *Server) userReset(w http.ResponseWriter, r *http.Request) {
	u, ok := s.targetUser(w, r)
	if !ok {
		return
	}
	if u.ID == me(r).UserID {
		s.renderUsers(w, r, http.StatusUnprocessableEntity, s.emptyAddForm(), "Use Change password for your own account.")
		return
	}
	pw := auth.GeneratePassword()
	hash, err := auth.HashPassword(pw)
	if err != nil {
		s.serverError(w, r, fmt.Errorf("hashing password: %w", err))
		return
	}
	if _, err := s.db.SetPassword(r.Context(), u.ID, hash, true); err != nil {
		s.serverError(w, r, fmt.Errorf("resetting password of %s: %w", u.Name, err))
		return
	}
	s.audit(r, "", actUserReset, u.Name, resultOK, "")
	if err := s.throttle.Unlock(r.Context(), u.Name); err != nil {
		s.log.Error("clearing login failures", "user", u.Name, "err", err)
	}
	s.removeInitialPassword(u.Name)
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
	if u.ID == me(r).UserID {
		s.audit(r, "", actUserDelete, u.Name, resultFail, "own account")
		s.renderUsers(w, r, http.StatusUnprocessableEntity, s.emptyAddForm(), "You cannot delete your own account.")
		return
	}
	err := s.db.DeleteUser(r.Context(), u.ID)
	if errors.Is(err, store.ErrLastAdmin) {
		s.audit(r, "", actUserDelete, u.Name, resultFail, "last admin")
		s.renderUsers(w, r, http.StatusConflict, s.emptyAddForm(), fmt.Sprintf("%s is the last admin and cannot be deleted.", u.Name))
		return
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.serverError(w, r, fmt.Errorf("deleting user %s: %w", u.Name, err))
		return
	}
	s.audit(r, "", actUserDelete, u.Name, resultOK, "")
	s.removeInitialPassword(u.Name)
	s.setFlash(r, "success", fmt.Sprintf("Deleted %s.", u.Name))
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}

func (s *Server) emptyAddForm() *form {
	return &form{Values: map[string]string{"role": string(auth.Viewer)}, Errors: map[string]string{}}
}
