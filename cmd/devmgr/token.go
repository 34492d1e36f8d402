package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/store"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "manage API tokens (Authorization: Bearer) in the database directly",
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

// Bounds of a token's lifetime (--expires).
const (
	minTokenTTL = time.Minute
	maxTokenTTL = 3650 * 24 * time.Hour // 10 years
)

// parseTokenTTL reads --expires: "" for never, else days ("90d") or a Go
// duration between minTokenTTL and maxTokenTTL.
func parseTokenTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	a, err := config.ParseAge(s)
	if err != nil {
		return 0, fmt.Errorf("--expires: %w", err)
	}
	switch d := time.Duration(a); {
	case d < minTokenTTL:
		return 0, fmt.Errorf("--expires: %q is less than the shortest lifetime, 1m", s)
	case d > maxTokenTTL:
		return 0, fmt.Errorf("--expires: %q is more than the longest lifetime, 3650d (10 years)", s)
	default:
		return d, nil
	}
}

func newTokenCreateCmd() *cobra.Command {
	var name, roleFlag, expires string
	cmd := &cobra.Command{
		Use:   "create --name N --role admin|operator|viewer [--expires 90d]",
		Short: "create an API token and print it once; only its hash is kept",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := auth.CheckTokenName(name); err != nil {
				return err
			}
			role, err := auth.ParseRole(roleFlag)
			if err != nil {
				return err
			}
			ttl, err := parseTokenTTL(expires)
			if err != nil {
				return err
			}
			return withCLIStore(cmd, func(ctx context.Context, s *cliStore) error {
				plain, hash := auth.NewToken()
				tok, err := s.db.CreateToken(ctx, name, role, hash, ttl)
				s.audit(ctx, "token.create", name, err)
				if errors.Is(err, store.ErrExists) {
					return fmt.Errorf("token %q already exists (revoke it first)", name)
				}
				if err != nil {
					return err
				}
				// The token alone on stdout, so that scripts can capture it.
				fmt.Fprintln(cmd.OutOrStdout(), plain)
				fmt.Fprintf(cmd.ErrOrStderr(), "created token %q with role %s, expiring %s; it is shown only this once\n",
					name, role, formatExpiry(tok, time.Now()))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the token's name")
	cmd.Flags().StringVar(&roleFlag, "role", "", "the token's role: admin, operator or viewer")
	cmd.MarkFlagRequired("name")
	cmd.Flags().StringVar(&expires, "expires", "", "lifetime of the token, in days (90d) or as a duration (720h); default never")
	cmd.MarkFlagRequired("role")
	return cmd
}

func newTokenListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "list API tokens, revoked and expired ones too, with their expiry and last use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCLIStore(cmd, func(ctx context.Context, s *cliStore) error {
				toks, err := s.db.ListTokens(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tEXPIRES\tLAST-USED\tREVOKED")
				now := time.Now()
				for _, t := range toks {
					used := "never"
					if t.LastUsedAt != nil {
						used = t.LastUsedAt.Local().Format(time.DateTime)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, t.CreatedAt.Local().Format(time.DateTime),
						formatExpiry(t, now), used, yesNo(t.Revoked))
				}
				return tw.Flush()
			})
		},
	}
}

// formatExpiry is a token's expiry in local time, "never", or marked
// "(expired)" once past.
func formatExpiry(t store.Token, now time.Time) string {
	if t.ExpiresAt == nil {
		return "never"
	}
	s := t.ExpiresAt.Local().Format(time.DateTime)
	if t.Expired(now) {
		s += " (expired)"
	}
	return s
}

func newTokenRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "revoke an API token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return withCLIStore(cmd, func(ctx context.Context, s *cliStore) error {
				err := s.db.RevokeToken(ctx, name)
				s.audit(ctx, "token.revoke", name, err)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("token %q does not exist or is already revoked", name)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked token %q\n", name)
				return nil
			})
		},
	}
}
