package main

import (
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/store"
)

// Set by -ldflags at build time (see Makefile).
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

// exitCode is returned by a command that has already printed its message
// and only needs the process to exit with a given status.
type exitCode int

func (e exitCode) Error() string { return "exit status" }

func asExitCode(err error, ec *exitCode) bool { return errors.As(err, ec) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "devmgr",
		Short:         "WiFi access-point appliance manager and web console",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("config", "", "config file (default $DEVMGR_CONFIG or "+config.DefaultPath+")")
	userCmd, tokenCmd := newUserCmd(), newTokenCmd()
	// Run by root, they switch to web.user before the database is opened.
	asWebUser(userCmd)
	asWebUser(tokenCmd)
	root.AddCommand(
		newServeCmd(),
		newAgentCmd(),
		newProvisionCmd(),
		newSetupCmd(),
		newAPCmd(),
		newCommandsCmd(),
		newConfigCmd(),
		userCmd,
		tokenCmd,
		newBackupCmd(),
		newResetCmd(),
		newVersionCmd(),
	)
	return root
}

// loadConfig loads the file named by --config, DEVMGR_CONFIG or the default path.
func loadConfig(cmd *cobra.Command) (config.Config, error) {
	flag, _ := cmd.Flags().GetString("config")
	if flag == configFromParent && os.Getenv(asWebUserEnv) != "" {
		return parentConfig()
	}
	return config.Load(config.Path(flag))
}

func newLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// auditRetention is the store option of the config's audit.keep and
// audit.max_rows: every process that opens the database prunes by them.
func auditRetention(cfg config.Config) store.Option {
	return store.AuditRetention(time.Duration(cfg.Audit.Keep), cfg.Audit.MaxRows)
}
