package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
)

type fakeAPAgent struct {
	info    api.APInfo
	clients []api.APClient
	err     error
}

func (f fakeAPAgent) AP(context.Context, api.Actor) (api.APInfo, error) { return f.info, f.err }
func (f fakeAPAgent) APClients(context.Context, api.Actor) ([]api.APClient, error) {
	return f.clients, f.err
}

func TestAPStatusFromAgent(t *testing.T) {
	f := fakeAPAgent{
		info: api.APInfo{Status: api.APStatus{Running: true, State: "ENABLED", Interface: "wlan0", SSID: "Kiosk", Channel: 6, Frequency: 2437}},
		clients: []api.APClient{
			{MAC: "02:00:00:00:01:00", IP: "192.168.4.7", Hostname: "phone", Signal: -42, ConnectedSeconds: 61, RxBytes: 10, TxBytes: 20},
			{MAC: "02:00:00:00:02:00", Signal: 0},
		},
	}
	var out bytes.Buffer
	if err := runAPStatusAgent(context.Background(), &out, f, apStatusOptions{timeout: 1e9}); err != nil {
		t.Fatal(err)
	}
	want := `wlan0 state=ENABLED ssid="Kiosk" channel=6 freq=2437 stations=2
02:00:00:00:01:00 192.168.4.7 phone signal=-42 connected=1m1s rx_bytes=10 tx_bytes=20
02:00:00:00:02:00 - - signal=? connected=0s rx_bytes=0 tx_bytes=0
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}

	f = fakeAPAgent{info: api.APInfo{Status: api.APStatus{Interface: "wlan0", Problem: "the radio is blocked (rfkill)"}}}
	out.Reset()
	if err := runAPStatusAgent(context.Background(), &out, f, apStatusOptions{timeout: 1e9}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "not running: the radio is blocked (rfkill)") {
		t.Errorf("a stopped AP's problem is not shown: %q", out.String())
	}

	f = fakeAPAgent{err: agentclient.ErrUnavailable}
	if err := runAPStatusAgent(context.Background(), &out, f, apStatusOptions{timeout: 1e9}); !errors.Is(err, agentclient.ErrUnavailable) {
		t.Errorf("agent down: err = %v", err)
	}
}
