package devrun

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dhcp"
	"github.com/devmgr/devmgr/internal/hostapd"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/hostapdtest"
	"github.com/devmgr/devmgr/internal/testing/lab"
)

// StandIn says, in the banner and the README, what the lab's access point is.
const StandIn = "access point: a stand-in for hostapd (its real control protocol; the stations are the lab's " +
	"WiFi-client namespaces with their DHCP leases); there is no radio here: `make test` proves the real one " +
	"(hostapd and wpa_supplicant over mac80211_hwsim in a VM, internal/testing/wifivm)"

// wifiClient is a lab namespace that stands for a station of the AP.
type wifiClient struct {
	role, mac string
	addr      netip.Addr // leased from the AP's dnsmasq
}

// leaseWiFiClients runs devmgr's own DHCP client (internal/dhcp) on wlan0
// of each WiFi-client namespace of the lab, as a phone that joins the AP
// leases its address from the AP's dnsmasq, and waits for the leases. The
// clients renew until stop (which keeps their addresses); the DHCP client
// opens its sockets inside each namespace.
func leaseWiFiClients(ctx context.Context, l *lab.Lab, log *slog.Logger) (clients []wifiClient, stop func(), err error) {
	var managers []*dhcp.Manager
	var handles []*netif.Handle
	stop = func() {
		for _, m := range managers {
			m.Close()
		}
		for _, h := range handles {
			h.Close()
		}
	}
	defer func() {
		if err != nil {
			stop()
			stop = nil
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, role := range lab.WiFiClients {
		mac, err := l.MAC(role, "wlan0")
		if err != nil {
			return nil, stop, err
		}
		h, err := netif.OpenAt(l.NSPath(role))
		if err != nil {
			return nil, stop, err
		}
		handles = append(handles, h)
		m, err := dhcp.NewManager(dhcp.Config{Handle: h, Log: log.With("client", role)})
		if err != nil {
			return nil, stop, err
		}
		managers = append(managers, m)
		if err := m.Start(ctx, "wlan0"); err != nil {
			return nil, stop, err
		}
		clients = append(clients, wifiClient{role: role, mac: mac})
	}
	for i := range clients {
		for {
			if le, ok := managers[i].Lease("wlan0"); ok {
				p, err := netip.ParsePrefix(le.Address)
				if err != nil {
					return nil, stop, fmt.Errorf("the lease of %s: %w", clients[i].role, err)
				}
				clients[i].addr = p.Addr()
				break
			}
			select {
			case <-ctx.Done():
				return nil, stop, fmt.Errorf("waiting for the DHCP lease of %s from the AP's dnsmasq: %w", l.NS(clients[i].role), ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return clients, stop, nil
}

// Stations as the stand-in reports them: a WPA3 phone near the AP and a
// WPA2 laptop further away, whatever namespaces stand for them.
var stationLooks = []hostapdtest.Station{
	{Flags: "[AUTH][ASSOC][AUTHORIZED][WMM][MFP][HT]", KeyMgmt: "SAE", Signal: -41, ConnectedTime: 60, InactiveMsec: 800},
	{Flags: "[AUTH][ASSOC][AUTHORIZED][WMM][HT]", KeyMgmt: "WPA-PSK", Signal: -67, ConnectedTime: 60, InactiveMsec: 2400},
}

// startStandIn runs the stand-in hostapd on socket with the WiFi clients as
// its stations. root/etc is the agent's /etc (its overlay's upper layer):
// the stand-in reads the hostapd config apmgr renders there, and the deny
// list it names, at start and on RELOAD, as hostapd does.
func startStandIn(socket, root, bssid string, clients []wifiClient, log *slog.Logger) (*hostapdtest.Server, error) {
	var st []hostapdtest.Station
	for i, c := range clients {
		s := stationLooks[i%len(stationLooks)]
		s.MAC = c.mac
		st = append(st, s)
	}
	return hostapdtest.Listen(hostapdtest.Config{
		Socket: socket, Conf: filepath.Join(root, device.HostapdConf), Root: root, Stations: st, BSSID: bssid,
		Unknown: func(cmd string) { log.Warn("the stand-in hostapd does not know a command", "command", cmd) },
	})
}

// renderHostapd is what devmgr provision installs for the AP: its config
// (with the agent's control directory) and an empty deny list.
func renderHostapd(ap config.AP, ctrlDir string) (conf, deny []byte, err error) {
	conf, err = hostapd.Render(ap, hostapd.Options{CtrlInterface: ctrlDir, DenyFile: device.HostapdDeny})
	if err != nil {
		return nil, nil, err
	}
	deny, err = hostapd.RenderDenyList(nil)
	return conf, deny, err
}
