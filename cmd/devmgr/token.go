package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO: being written.
func newTokenCmd() *cobra.Command {
	return &cobra.Command{
		Use:  "token",
		RunE: func(*cobra.Command, []string) error { return errors.New("token: not built yet") },
	}
}
