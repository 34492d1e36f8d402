package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/auth"
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
	var name, roleFlag string
	cmd := &cobra.Command{
		Use:   "create --name N --role admin|operator|viewer",
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
			return withCLIStore(cmd, func(ctx context.Context, s *cliStore) error {
				plain, hash := auth.NewToken()
				_, err := s.db.CreateToken(ctx, name, role, hash)
				s.audit(ctx, "token.create", name, err)
				if errors.Is(err, store.ErrExists) {
					return fmt.Errorf("token %q already exists (revoke it first)", name)
				}
				if err != nil {
					return err
				}
				// The token alone on stdout, so that scripts can capture it.
				fmt.Fprintln(cmd.OutOrStdout(), plain)
				fmt.Fprintf(cmd.ErrOrStderr(), "created token %q with role %s; it is shown only this once\n", name, role)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the token's name")
	cmd.Flags().StringVar(&roleFlag, "role", "", "the token's role: admin, operator or viewer")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagRequired("role")
	return cmd
}

func newTokenListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "list API tokens, revoked ones too",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCLIStore(cmd, func(ctx context.Context, s *cliStore) error {
				toks, err := s.db.ListTokens(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tLAST-USED\tREVOKED")
				for _, t := range toks {
					used := "never"
					if t.LastUsedAt != nil {
						used = t.LastUsedAt.Local().Format(time.DateTime)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, t.CreatedAt.Local().Format(time.DateTime), used, yesNo(t.Revoked))
				}
				return tw.Flush()
			})
		},
	}
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
