package devrun

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/lab"
)

// LabOptions say how LabUp builds the lab.
type LabOptions struct {
	Prefix       string // namespace name prefix; default lab.DefaultPrefix
	UplinkStatic bool   // give the device's eth0 lab.UplinkDeviceAddr
	Forwarding   bool   // IPv4 forwarding in the device namespace
	// ConfigOut, if set, is where a devmgr config matching the lab is
	// written, with DataDir, Socket and Listen.
	ConfigOut, DataDir, Socket, Listen string
}

// LabUp builds the network-namespace lab (removing labs of dead processes
// first), prints it as JSON on out and keeps it until ctx is done.
func LabUp(ctx context.Context, log *slog.Logger, o LabOptions, out io.Writer) error {
	if err := lab.CleanStale(o.Prefix); err != nil {
		log.Warn("cleaning stale labs", "err", err)
	}
	l, err := lab.New(ctx, log, lab.Options{Prefix: o.Prefix, UplinkStatic: o.UplinkStatic, Forwarding: o.Forwarding})
	if err != nil {
		return err
	}
	defer l.Close()
	if o.ConfigOut != "" {
		c := l.Config(o.DataDir)
		c.Agent.Socket = o.Socket
		c.Web.Listen = o.Listen
		if err := config.Write(o.ConfigOut, c, configHeader); err != nil {
			return err
		}
	}
	ns := map[string]string{}
	for _, r := range lab.Roles {
		ns[r] = l.NS(r)
	}
	desc := map[string]any{
		"id": l.ID(), "namespaces": ns, "http": l.HTTPURL(), "dhcp_leases": l.DHCPLeaseFile(),
		"ap_address": lab.APAddress, "lan_host": lab.LANHostAddress, "lan_device_address": lab.LANDeviceAddr,
		"upstream": lab.UpstreamAddress,
	}
	if o.ConfigOut != "" {
		desc["config"] = o.ConfigOut
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(desc); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// LabClean removes the labs of dead processes.
func LabClean(prefix string) error { return lab.CleanStale(prefix) }
