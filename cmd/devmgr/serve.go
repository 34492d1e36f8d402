package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO: being written.
func newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:  "serve",
		RunE: func(*cobra.Command, []string) error { return errors.New("serve: not built yet") },
	}
}
