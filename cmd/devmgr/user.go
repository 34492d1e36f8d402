package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO: being written.
func newUserCmd() *cobra.Command {
	return &cobra.Command{
		Use:  "user",
		RunE: func(*cobra.Command, []string) error { return errors.New("user: not built yet") },
	}
}
