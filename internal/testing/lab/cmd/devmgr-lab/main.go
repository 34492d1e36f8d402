// Command devmgr-lab builds the network-namespace lab and keeps it up until
// interrupted, for `make run` and manual exploration (root only):
//
//	go run ./internal/testing/lab/cmd/devmgr-lab up [-uplink-static] [-forwarding]   # prints the lab as JSON, Ctrl-C removes it
//	go run ./internal/testing/lab/cmd/devmgr-lab up -config-out var/lab.yaml         # also writes a devmgr config for the lab
//	go run ./internal/testing/lab/cmd/devmgr-lab clean                                # removes labs of dead processes
//
// With the lab up, run the agent in the device namespace:
// ip netns exec <namespaces.dev> devmgr agent --config FILE.
// (`make run`, i.e. the hidden `devmgr dev run`, does all of this and also
// runs the console as the devmgr user.)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/devmgr/devmgr/internal/testing/lab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devmgr-lab:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: devmgr-lab up|clean [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	prefix := fs.String("prefix", lab.DefaultPrefix, "namespace name prefix")
	uplink := fs.Bool("uplink-static", false, "give the device's eth0 "+lab.UplinkDeviceAddr)
	fwd := fs.Bool("forwarding", false, "enable IPv4 forwarding in the device namespace")
	cfgOut := fs.String("config-out", "", "write a devmgr config matching the lab to this file")
	dataDir := fs.String("data-dir", "./var/data", "data_dir of the written config")
	socket := fs.String("socket", "./var/run/agent.sock", "agent.socket of the written config")
	listen := fs.String("listen", "127.0.0.1:8443", "web.listen of the written config")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	switch args[0] {
	case "clean":
		return lab.CleanStale(*prefix)
	case "up":
	default:
		return fmt.Errorf("unknown command %q: want up or clean", args[0])
	}
	if err := lab.CleanStale(*prefix); err != nil {
		log.Warn("cleaning stale labs", "err", err)
	}
	l, err := lab.New(ctx, log, lab.Options{Prefix: *prefix, UplinkStatic: *uplink, Forwarding: *fwd})
	if err != nil {
		return err
	}
	defer l.Close()
	if *cfgOut != "" {
		c := l.Config(*dataDir)
		c.Agent.Socket = *socket
		c.Web.Listen = *listen
		if err := lab.WriteConfig(*cfgOut, c); err != nil {
			return err
		}
	}
	ns := map[string]string{}
	for _, r := range lab.Roles {
		ns[r] = l.NS(r)
	}
	out := map[string]any{
		"id": l.ID(), "namespaces": ns, "http": l.HTTPURL(), "dhcp_leases": l.DHCPLeaseFile(),
		"ap_address": lab.APAddress, "lan_host": lab.LANHostAddress, "lan_device_address": lab.LANDeviceAddr,
		"upstream": lab.UpstreamAddress,
	}
	if *cfgOut != "" {
		out["config"] = *cfgOut
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
