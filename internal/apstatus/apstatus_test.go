package apstatus

import (
	"bytes"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/hostapd"
)

func TestJoinLeasesAndText(t *testing.T) {
	t.Parallel()
	stas := []hostapd.Station{
		{Addr: "02:00:00:00:01:00", Signal: -42, ConnectedTime: 61 * time.Second, RxBytes: 10, TxBytes: 20},
		{Addr: "02:00:00:00:02:00"},
	}
	leases := []dnsmasq.Lease{{MAC: "02:00:00:00:01:00", IP: "192.168.4.7", Hostname: "phone"}, {MAC: "", IP: "fd00::1"}}
	r := Report{Interface: "wlan0", AP: hostapd.Status{State: "ENABLED", SSID: "Kiosk", Channel: 6, Freq: 2437}, Stations: JoinLeases(stas, leases)}
	var out bytes.Buffer
	if err := r.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	want := `wlan0 state=ENABLED ssid="Kiosk" channel=6 freq=2437 stations=2
02:00:00:00:01:00 192.168.4.7 phone signal=-42 connected=1m1s rx_bytes=10 tx_bytes=20
02:00:00:00:02:00 - - signal=? connected=0s rx_bytes=0 tx_bytes=0
`
	if out.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", out.String(), want)
	}
}
