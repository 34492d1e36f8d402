package accounts

import (
	"context"
	"errors"
	"fmt"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
)

// NewUser is a user to add. Confirm is the password typed again (the CLI,
// reading it once, passes it twice).
type NewUser struct {
	Name, Role, Password, Confirm string
	// MustChange makes the user choose a new password at first sign-in.
	MustChange bool
}

// CheckNewUser returns an *Invalid with every bad field of u (name, role,
// password, confirm), or nil. It reads nothing.
func CheckNewUser(u NewUser) error {
	var ps problems
	ps.add("name", auth.CheckUsername(u.Name))
	_, err := auth.ParseRole(u.Role)
	ps.add("role", err)
	ps.add("password", auth.CheckPassword(u.Password))
	if u.Confirm != u.Password {
		ps.add("confirm", ErrMismatch)
	}
	return ps.err()
}

// AddUser checks and adds u. A taken name is a problem of the field name
// wrapping ErrExists.
func (s *Service) AddUser(ctx context.Context, a Actor, u NewUser) (store.User, error) {
	err := CheckNewUser(u)
	var nu store.User
	if err == nil {
		role, _ := auth.ParseRole(u.Role)
		var h string
		if h, err = hash(u.Password); err != nil {
			return nu, err
		}
		nu, err = s.db.CreateUser(ctx, u.Name, role, h, u.MustChange)
		if errors.Is(err, store.ErrExists) {
			err = &Invalid{Problems: []Problem{{Field: "name", Err: errorf(ErrExists, "user %q already exists", u.Name)}}}
		} else if err != nil {
			err = fmt.Errorf("creating user %s: %w", u.Name, err)
		}
	}
	detail := ""
	if err == nil {
		detail = "role " + string(nu.Role)
	}
	s.Audit(ctx, a, ActUserAdd, u.Name, err, detail)
	return nu, err
}

// User returns the user called name; the error of a missing one says so
// and wraps ErrNotFound.
func (s *Service) User(ctx context.Context, name string) (store.User, error) {
	u, err := s.db.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return u, errorf(ErrNotFound, "user %q does not exist", name)
	}
	return u, err
}

// Users lists every user.
func (s *Service) Users(ctx context.Context) ([]store.User, error) { return s.db.ListUsers(ctx) }

// SetPassword sets the password of the user called name (the CLI's
// passwd): no change is required at the next sign-in, the user's sessions
// end and its failed logins are forgotten.
func (s *Service) SetPassword(ctx context.Context, a Actor, name, password string) error {
	if err := auth.CheckPassword(password); err != nil {
		return err
	}
	u, err := s.User(ctx, name)
	if err != nil {
		return err
	}
	_, err = s.setPassword(ctx, u, password, false)
	s.Audit(ctx, a, ActUserPasswd, name, err, "")
	if err != nil {
		return err
	}
	s.passwordChanged(ctx, u.Name)
	return nil
}

// ResetPassword gives u a generated password, to be changed at its next
// sign-in, and returns it; u's sessions end. Not on the actor's own
// account (ErrSelf): that is ChangePassword.
func (s *Service) ResetPassword(ctx context.Context, a Actor, u store.User) (string, error) {
	if u.ID == a.UserID {
		return "", ErrSelf
	}
	pw := auth.GeneratePassword()
	if _, err := s.setPassword(ctx, u, pw, true); err != nil {
		return "", err
	}
	s.Audit(ctx, a, ActUserReset, u.Name, nil, "")
	s.passwordChanged(ctx, u.Name)
	return pw, nil
}

// CheckPasswordChange returns an *Invalid with the problems of a new
// password (fields new and confirm), or nil.
func CheckPasswordChange(current, next, confirm string) error {
	var ps problems
	if err := auth.CheckPassword(next); err != nil {
		ps.add("new", err)
	} else if next == current {
		ps.add("new", errors.New("choose a password different from the current one"))
	}
	if confirm != next {
		ps.add("confirm", ErrMismatch)
	}
	return ps.err()
}

// ChangePassword sets u's own password to next, which the caller has
// checked along with the current one (CheckPasswordChange). It returns u
// with its new session epoch: its other sessions end.
func (s *Service) ChangePassword(ctx context.Context, a Actor, u store.User, next string) (store.User, error) {
	nu, err := s.setPassword(ctx, u, next, false)
	if err != nil {
		return nu, err
	}
	s.Audit(ctx, a, ActPasswordChange, u.Name, nil, "")
	s.passwordChanged(ctx, u.Name)
	return nu, nil
}

// ChangeRejected audits a password change that failed its checks.
func (s *Service) ChangeRejected(ctx context.Context, a Actor, name string) {
	s.Audit(ctx, a, ActPasswordChange, name, errors.New("rejected by validation"), "")
}

func (s *Service) setPassword(ctx context.Context, u store.User, password string, mustChange bool) (store.User, error) {
	h, err := hash(password)
	if err != nil {
		return u, err
	}
	nu, err := s.db.SetPassword(ctx, u.ID, h, mustChange)
	if err != nil {
		return nu, fmt.Errorf("setting password of %s: %w", u.Name, err)
	}
	return nu, nil
}

// passwordChanged forgets name's failed logins and the first admin's
// generated password, which no longer work.
func (s *Service) passwordChanged(ctx context.Context, name string) {
	s.unlock(ctx, name)
	s.RemoveInitialPassword(name)
}

// SetRole gives u the role called role; u's sessions end. The only admin
// keeps its role (ErrLastAdmin). An unchanged role changes nothing and
// records nothing (changed false).
func (s *Service) SetRole(ctx context.Context, a Actor, u store.User, role string) (nu store.User, changed bool, err error) {
	r, err := auth.ParseRole(role)
	if err != nil {
		err = &Invalid{Problems: []Problem{{Field: "role", Err: err}}}
		s.Audit(ctx, a, ActUserRole, u.Name, err, "")
		return u, false, err
	}
	if r == u.Role {
		return u, false, nil
	}
	nu, err = s.db.SetRole(ctx, u.ID, r)
	if errors.Is(err, store.ErrLastAdmin) {
		s.Audit(ctx, a, ActUserRole, u.Name, errors.New("last admin"), "")
		return u, false, errorf(ErrLastAdmin, "cannot change the role of user %q: it is the last admin", u.Name)
	}
	if err != nil {
		return u, false, fmt.Errorf("setting role of %s: %w", u.Name, err)
	}
	s.Audit(ctx, a, ActUserRole, u.Name, nil, fmt.Sprintf("%s -> %s", u.Role, r))
	return nu, true, nil
}

// DeleteUser deletes u, never the last admin (ErrLastAdmin) nor the
// actor's own account (ErrSelf). A user deleted meanwhile is deleted.
func (s *Service) DeleteUser(ctx context.Context, a Actor, u store.User) error {
	if u.ID == a.UserID {
		s.Audit(ctx, a, ActUserDelete, u.Name, errors.New("own account"), "")
		return errorf(ErrSelf, "cannot delete user %q: it is your own account", u.Name)
	}
	err := s.db.DeleteUser(ctx, u.ID)
	if errors.Is(err, store.ErrLastAdmin) {
		s.Audit(ctx, a, ActUserDelete, u.Name, errors.New("last admin"), "")
		return errorf(ErrLastAdmin, "cannot delete user %q: it is the last admin", u.Name)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.Audit(ctx, a, ActUserDelete, u.Name, err, "")
		return fmt.Errorf("deleting user %s: %w", u.Name, err)
	}
	s.Audit(ctx, a, ActUserDelete, u.Name, nil, "")
	s.RemoveInitialPassword(u.Name)
	return nil
}

// Unlock forgets the failed logins of the user called name, from every
// address, ending its login throttling.
func (s *Service) Unlock(ctx context.Context, a Actor, name string) error {
	u, err := s.User(ctx, name)
	if err != nil {
		return err
	}
	err = s.throttle.Unlock(ctx, u.Name)
	s.Audit(ctx, a, ActUserUnlock, name, err, "")
	return err
}
