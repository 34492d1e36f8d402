package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO: being written.
func newAgentCmd() *cobra.Command {
	return &cobra.Command{
		Use:  "agent",
		RunE: func(*cobra.Command, []string) error { return errors.New("agent: not built yet") },
	}
}
