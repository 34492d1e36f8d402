package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/web"
)

// The user and token commands work on the database directly, for
// installation scripts and for recovery when nobody can log in. Their
// audit entries name the user "cli" and the source "local".
const (
	cliAuditUser   = "cli"
	cliAuditSource = "local"
)

// cliStore is an open database for one user or token command.
type cliStore struct {
	db      *store.DB
	log     *slog.Logger
	dataDir string
}

// openCLIStore opens the database of the config that --config names.
func openCLIStore(cmd *cobra.Command) (*cliStore, error) {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	// Only warnings: the commands' own output is what scripts read.
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := store.Open(cmd.Context(), cfg.DataDir, log, auditRetention(cfg))
	if err != nil {
		return nil, err
	}
	return &cliStore{db: db, log: log, dataDir: cfg.DataDir}, nil
}

// auditRetention is the store option of the config's audit.keep and
// audit.max_rows: every process that opens the database prunes by them.
func auditRetention(cfg config.Config) store.Option {
	return store.AuditRetention(time.Duration(cfg.Audit.Keep), cfg.Audit.MaxRows)
}

// withCLIStore runs f on the database of the config that --config names
// and closes the database afterwards.
func withCLIStore(cmd *cobra.Command, f func(ctx context.Context, s *cliStore) error) error {
	s, err := openCLIStore(cmd)
	if err != nil {
		return err
	}
	defer s.db.Close()
	return f(cmd.Context(), s)
}

// user looks up the user called name; the error of a missing one says so.
func (s *cliStore) user(ctx context.Context, name string) (store.User, error) {
	u, err := s.db.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("user %q does not exist", name)
	}
	return u, err
}

// audit records what a command did; err decides the result. The change
// itself has happened (or not) already, so a failure to record it is
// reported but does not fail the command.
func (s *cliStore) audit(ctx context.Context, action, target string, err error) {
	e := store.AuditEntry{User: cliAuditUser, Source: cliAuditSource, Action: action, Target: target, Result: "ok"}
	switch {
	case errors.Is(err, store.ErrLastAdmin):
		e.Result, e.Detail = "denied", err.Error()
	case err != nil:
		e.Result, e.Detail = "failed", err.Error()
	}
	if aerr := s.db.Audit(context.WithoutCancel(ctx), e); aerr != nil {
		s.log.Warn("cannot write audit entry", "action", action, "target", target, "err", aerr)
	}
}

// readPassword reads one line from stdin: the password, without its line end.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("reading password from stdin: no input")
		}
		return "", fmt.Errorf("reading password from stdin: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if err := auth.CheckPassword(pw); err != nil {
		return "", err
	}
	return pw, nil
}

// readPasswordHash reads the password from stdin, which --password-stdin
// (pwStdin) must allow, and returns its hash.
func readPasswordHash(cmd *cobra.Command, pwStdin bool) (string, error) {
	if !pwStdin {
		return "", errNeedPasswordStdin
	}
	pw, err := readPassword(cmd.InOrStdin())
	if err != nil {
		return "", err
	}
	return auth.HashPassword(pw)
}

var errNeedPasswordStdin = errors.New("--password-stdin is required: devmgr never takes a password as an argument, where other users could see it")

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "manage console users in the database directly",
	}
	cmd.AddCommand(newUserAddCmd(), newUserListCmd(), newUserPasswdCmd(), newUserDelCmd(), newUserUnlockCmd())
	return cmd
}

func newUserAddCmd() *cobra.Command {
	var roleFlag string
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "add NAME --role admin|operator|viewer --password-stdin",
		Short: "add a user, reading the password from stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := auth.CheckUsername(name); err != nil {
				return err
			}
			role, err := auth.ParseRole(roleFlag)
			if err != nil {
				return err
			}
			hash, err := readPasswordHash(cmd, pwStdin)
			if err != nil {
				return err
			}
			return withCLIStore(cmd, func(ctx context.Context, s *cliStore) error {
				_, err := s.db.CreateUser(ctx, name, role, hash, false)
				s.audit(ctx, "user.add", name, err)
				if errors.Is(err, store.ErrExists) {
					return fmt.Errorf("user %q already exists", name)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added user %q with role %s\n", name, role)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&roleFlag, "role", "", "the user's role: admin, operator or viewer")
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of stdin")
	cmd.MarkFlagRequired("role")
	return cmd
}

func newUserListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "list users with their role and whether they must change their password",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCLIStore(cmd, func(ctx context.Context, s *cliStore) error {
				users, err := s.db.ListUsers(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tROLE\tMUST-CHANGE-PASSWORD")
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, yesNo(u.MustChangePassword))
				}
				return tw.Flush()
			})
		},
	}
}

func newUserPasswdCmd() *cobra.Command {
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "passwd NAME --password-stdin",
		Short: "set a user's password, reading it from stdin; ends the user's sessions and clears its failed logins",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			hash, err := readPasswordHash(cmd, pwStdin)
			if err != nil {
				return err
			}
			return withCLIStore(cmd, func(ctx context.Context, s *cliStore) error {
				u, err := s.user(ctx, name)
				if err != nil {
					return err
				}
				_, err = s.db.SetPassword(ctx, u.ID, hash, false)
				s.audit(ctx, "user.passwd", name, err)
				if err != nil {
					return err
				}
				// The failures were guesses of a password that no longer works.
				if err := auth.NewThrottle(s.db, nil).Unlock(ctx, u.Name); err != nil {
					s.log.Warn("cannot clear the user's failed logins; run devmgr user unlock", "user", name, "err", err)
				}
				s.removeInitialPassword(name)
				fmt.Fprintf(cmd.OutOrStdout(), "set the password of user %q\n", name)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

// removeInitialPassword removes the generated first admin password once
// the admin's password is set here: the file would only mislead.
func (s *cliStore) removeInitialPassword(name string) {
	if name != "admin" {
		return
	}
	path := filepath.Join(s.dataDir, web.InitialPasswordFile)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("cannot remove the initial admin password file", "path", path, "err", err)
	}
}

func newUserDelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "del NAME",
		Short: "delete a user (never the last admin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return withCLIStore(cmd, func(ctx context.Context, s *cliStore) error {
				u, err := s.user(ctx, name)
				if err != nil {
					return err
				}
				err = s.db.DeleteUser(ctx, u.ID)
				s.audit(ctx, "user.del", name, err)
				if errors.Is(err, store.ErrLastAdmin) {
					return fmt.Errorf("cannot delete user %q: it is the last admin", name)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted user %q\n", name)
				return nil
			})
		},
	}
}

func newUserUnlockCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unlock NAME",
		Short: "forget a user's failed logins from every address, ending its login throttling",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return withCLIStore(cmd, func(ctx context.Context, s *cliStore) error {
				u, err := s.user(ctx, name)
				if err != nil {
					return err
				}
				err = auth.NewThrottle(s.db, nil).Unlock(ctx, u.Name)
				s.audit(ctx, "user.unlock", name, err)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "unlocked user %q\n", name)
				return nil
			})
		},
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
