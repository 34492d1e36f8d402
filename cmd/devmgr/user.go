package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/accounts"
	"github.com/devmgr/devmgr/internal/store"
)

// The user and token commands work on the database directly, for
// installation scripts and for recovery when nobody can log in; their
// audit entries name the actor accounts.CLI.

// withAccounts runs f on the accounts of the database of the config that
// --config names, and closes the database afterwards.
func withAccounts(cmd *cobra.Command, f func(ctx context.Context, acc *accounts.Service) error) error {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	// Only warnings: the commands' own output is what scripts read.
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := store.Open(cmd.Context(), cfg.DataDir, log, auditRetention(cfg))
	if err != nil {
		return err
	}
	defer db.Close()
	acc, err := accounts.New(accounts.Config{DB: db, Log: log, DataDir: cfg.DataDir})
	if err != nil {
		return err
	}
	return f(cmd.Context(), acc)
}

// readPassword reads the password from the first line of stdin, which
// --password-stdin (pwStdin) must allow, without its line end.
func readPassword(cmd *cobra.Command, pwStdin bool) (string, error) {
	if !pwStdin {
		return "", errNeedPasswordStdin
	}
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("reading password from stdin: no input")
		}
		return "", fmt.Errorf("reading password from stdin: %w", err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
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
			pw, err := readPassword(cmd, pwStdin)
			if err != nil {
				return err
			}
			nu := accounts.NewUser{Name: args[0], Role: roleFlag, Password: pw, Confirm: pw}
			if err := accounts.CheckNewUser(nu); err != nil {
				return err
			}
			return withAccounts(cmd, func(ctx context.Context, acc *accounts.Service) error {
				u, err := acc.AddUser(ctx, accounts.CLI, nu)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added user %q with role %s\n", u.Name, u.Role)
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
			return withAccounts(cmd, func(ctx context.Context, acc *accounts.Service) error {
				users, err := acc.Users(ctx)
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
			pw, err := readPassword(cmd, pwStdin)
			if err != nil {
				return err
			}
			return withAccounts(cmd, func(ctx context.Context, acc *accounts.Service) error {
				if err := acc.SetPassword(ctx, accounts.CLI, args[0], pw); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "set the password of user %q\n", args[0])
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

func newUserDelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "del NAME",
		Short: "delete a user (never the last admin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAccounts(cmd, func(ctx context.Context, acc *accounts.Service) error {
				u, err := acc.User(ctx, args[0])
				if err != nil {
					return err
				}
				if err := acc.DeleteUser(ctx, accounts.CLI, u); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted user %q\n", u.Name)
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
			return withAccounts(cmd, func(ctx context.Context, acc *accounts.Service) error {
				if err := acc.Unlock(ctx, accounts.CLI, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "unlocked user %q\n", args[0])
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
