package agent

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"
)

// fakeHostapd answers STA-FIRST with one station and STA-NEXT with none.
func fakeHostapd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "wlan0"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, from, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			reply := ""
			switch string(buf[:n]) {
			case "STA-FIRST":
				reply = "02:00:00:00:01:00\nflags=[AUTH][ASSOC][AUTHORIZED]\nrx_bytes=10\ntx_bytes=20\nconnected_time=5\ninactive_msec=100\nsignal=-40\n"
			case "STA-NEXT 02:00:00:00:01:00":
				reply = ""
			default:
				t.Errorf("fake hostapd: unexpected %q", buf[:n])
				reply = "UNKNOWN COMMAND\n"
			}
			_, _ = conn.WriteToUnix([]byte(reply), from)
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return dir
}

func TestWiFiClients(t *testing.T) {
	dir := fakeHostapd(t)
	ta := startAgent(t, func(c *Config) { c.WiFi = HostapdWiFi{CtrlDir: dir, Interface: "wlan0"} })
	st, err := ta.client.WiFiClients(context.Background(), viewer)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Addr != "02:00:00:00:01:00" || !st[0].Authorized() || st[0].RxBytes != 10 {
		t.Errorf("stations %+v", st)
	}

	tb := startAgent(t, func(c *Config) { c.WiFi = HostapdWiFi{CtrlDir: t.TempDir(), Interface: "wlan0"} })
	if _, err := tb.client.WiFiClients(context.Background(), viewer); !IsStatus(err, http.StatusServiceUnavailable) {
		t.Errorf("without hostapd: %v, want 503", err)
	}
}
