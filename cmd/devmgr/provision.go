package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO: being written.
func newProvisionCmd() *cobra.Command {
	return &cobra.Command{
		Use:  "provision",
		RunE: func(*cobra.Command, []string) error { return errors.New("provision: not built yet") },
	}
}
