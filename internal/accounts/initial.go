package accounts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"

	"github.com/devmgr/devmgr/internal/auth"
)

// InitialPasswordFile is the file under data_dir holding the generated
// first admin password until it is changed.
const InitialPasswordFile = "initial-admin-password"

// InitialAdmin is the name of the user created on a first start.
const InitialAdmin = "admin"

// InitialPasswordPath is where the first admin's generated password is.
func (s *Service) InitialPasswordPath() string {
	return filepath.Join(s.dataDir, InitialPasswordFile)
}

// EnsureInitialAdmin creates the first admin with a random password on a
// store without users and writes the password to data_dir, 0600. The path
// is logged; the password never is.
func (s *Service) EnsureInitialAdmin(ctx context.Context) error {
	n, err := s.db.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("counting users: %w", err)
	}
	if n > 0 {
		return nil
	}
	pw := auth.GeneratePassword()
	h, err := auth.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("hashing initial admin password: %w", err)
	}
	path := s.InitialPasswordPath()
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	// The file is written first: an admin whose password was never written
	// down would lock the owner out.
	if err := renameio.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := s.db.CreateUser(ctx, InitialAdmin, auth.Admin, h, true); err != nil {
		os.Remove(path)
		return fmt.Errorf("creating initial admin: %w", err)
	}
	s.log.Info("created the initial admin; its password is in the file, and must be changed at first login",
		"user", InitialAdmin, "file", path)
	return nil
}

// RemoveInitialPassword deletes the first admin's password file once the
// password it holds no longer works (userName is the user whose password
// changed, or who was deleted).
func (s *Service) RemoveInitialPassword(userName string) {
	if userName != InitialAdmin {
		return
	}
	path := s.InitialPasswordPath()
	if err := os.Remove(path); err == nil {
		s.log.Info("removed the initial admin password file", "file", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		s.log.Error("removing initial admin password file", "file", path, "err", err)
	}
}
