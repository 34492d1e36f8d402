package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/web"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "serve the web console and JSON API until SIGTERM",
		Long: "The console runs unprivileged, as the web.user account: every interface read and\n" +
			"change goes through the agent (devmgr agent) on agent.socket.",
		Args: cobra.NoArgs,
		RunE: runServe,
	}
	// For development only: a root console would hold privileges it must not have.
	cmd.Flags().Bool("allow-root", false, "run even as root (development only)")
	_ = cmd.Flags().MarkHidden("allow-root")
	return cmd
}

func runServe(cmd *cobra.Command, _ []string) error {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	if allow, _ := cmd.Flags().GetBool("allow-root"); os.Geteuid() == 0 && !allow {
		return fmt.Errorf("devmgr serve refuses to run as root: run it as the %q account (web.user), "+
			"e.g. runuser -u %s -- devmgr serve; only the agent (devmgr agent) runs as root", cfg.Web.User, cfg.Web.User)
	}
	setMemoryLimit(serveMemoryLimit)
	ctx := cmd.Context()
	log := newLogger()
	db, err := store.Open(ctx, cfg.DataDir, log, auditRetention(cfg))
	if err != nil {
		return err
	}
	defer db.Close()
	// Many readers of a page cost the agent one read a second.
	ac := agentclient.New(cfg.Agent.Socket, agentclient.WithSharedReads(time.Second))
	defer ac.Close()
	srv, err := web.New(web.Config{Config: cfg, DB: db, Logger: log, Agent: ac})
	if err != nil {
		return err
	}
	return srv.ListenAndServe(ctx)
}
