package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "work with the config file"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "check the config; print every problem with its YAML path and exit 1, or exit 0",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flag, _ := cmd.Flags().GetString("config")
			path := config.Path(flag)
			b, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("reading config: %w", err)
			}
			// The config's own problems, then (on this machine) the
			// commands' programs.
			cfg, err := config.Parse(b)
			if err == nil {
				err = cfg.CheckPrograms()
			}
			if err != nil {
				var ps *config.Problems
				if !errors.As(err, &ps) {
					return err
				}
				for _, p := range ps.List {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", path, p)
				}
				return exitCode(1)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", path)
			return nil
		},
	})
	return cmd
}
