package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/accounts"
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

func newTokenCreateCmd() *cobra.Command {
	var name, roleFlag, expires string
	cmd := &cobra.Command{
		Use:   "create --name N --role admin|operator|viewer [--expires 90d]",
		Short: "create an API token and print it once; only its hash is kept",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nt := accounts.NewToken{Name: name, Role: roleFlag}
			if err := accounts.CheckNewToken(nt); err != nil {
				return err
			}
			var err error
			if nt.TTL, err = accounts.ParseTokenTTL(expires); err != nil {
				return fmt.Errorf("--expires: %w", err)
			}
			return withAccounts(cmd, func(ctx context.Context, acc *accounts.Service) error {
				plain, tok, err := acc.CreateToken(ctx, accounts.CLI, nt)
				if err != nil {
					return err
				}
				// The token alone on stdout, so that scripts can capture it.
				fmt.Fprintln(cmd.OutOrStdout(), plain)
				fmt.Fprintf(cmd.ErrOrStderr(), "created token %q with role %s, expiring %s; it is shown only this once\n",
					tok.Name, tok.Role, formatExpiry(tok, time.Now()))
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
			return withAccounts(cmd, func(ctx context.Context, acc *accounts.Service) error {
				toks, err := acc.Tokens(ctx)
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
			return withAccounts(cmd, func(ctx context.Context, acc *accounts.Service) error {
				if err := acc.RevokeToken(ctx, accounts.CLI, name); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked token %q\n", name)
				return nil
			})
		},
	}
}
