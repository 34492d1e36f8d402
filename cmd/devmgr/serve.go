package main

import (
	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/web"
)

func newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "serve the web console and JSON API until SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			log := newLogger()
			db, err := store.Open(ctx, cfg.DataDir, log)
			if err != nil {
				return err
			}
			defer db.Close()
			srv, err := web.New(web.Config{Config: cfg, DB: db, Logger: log})
			if err != nil {
				return err
			}
			return srv.ListenAndServe(ctx)
		},
	}
}
