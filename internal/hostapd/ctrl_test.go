package hostapd

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Replies as hostapd 2.10 formats them (hostapd_ctrl_iface_status,
// hostapd_ctrl_iface_sta_mib).
const statusReply = `state=ENABLED
phy=phy0
freq=2437
num_sta_non_erp=0
num_sta_no_short_slot_time=0
num_sta_no_short_preamble=0
olbc=0
num_sta_ht_no_gf=0
num_sta_no_ht=0
num_sta_ht_20_mhz=0
num_sta_ht40_intolerant=0
olbc_ht=0
ht_op_mode=0x0
cac_time_seconds=0
cac_time_left_seconds=N/A
channel=6
edmg_enable=0
edmg_channel=0
secondary_channel=0
ieee80211n=1
ieee80211ac=0
ieee80211ax=0
beacon_int=100
dtim_period=2
ht_caps_info=000c
ht_mcs_bitmask=ffff0000000000000000
supported_rates=02 04 0b 16 0c 12 18 24 30 48 60 6c
max_txpower=20
bss[0]=wlan0
bssid[0]=02:00:00:00:00:00
ssid[0]=Caf\xc3\xa9 \"x\"
num_sta[0]=2
`

const sta1 = `02:00:00:00:01:00
flags=[AUTH][ASSOC][AUTHORIZED][WMM][MFP][HT]
aid=1
capability=0x411
listen_interval=5
supported_rates=02 04 0b 16 0c 12 18 24 30 48 60 6c
timeout_next=NULLFUNC POLL
dot11RSNAStatsSTAAddress=02:00:00:00:01:00
dot11RSNAStatsVersion=1
dot11RSNAStatsSelectedPairwiseCipher=00-0f-ac-4
dot11RSNAStatsTKIPLocalMICFailures=0
dot11RSNAStatsTKIPRemoteMICFailures=0
wpa=2
AKMSuiteSelector=00-0f-ac-8
hostapd_WPA_key_mgmt=SAE
hostapd_WPA_pairwise=CCMP
rx_packets=57
tx_packets=24
rx_bytes=6311
tx_bytes=3457
inactive_msec=1316
signal=-30
rx_rate_info=10
tx_rate_info=650 mcs 7 shortGI
connected_time=42
supp_op_classes=51515354737475767778797a7b7c7d7e7f808182
ht_caps_info=0x107e
min_txpower=0
max_txpower=20
ext_capab=0000000000000040
`

const sta2 = `02:00:00:00:02:00
flags=[AUTH][ASSOC]
aid=2
capability=0x411
listen_interval=5
timeout_next=NULLFUNC POLL
rx_packets=3
tx_packets=1
rx_bytes=9876543210
tx_bytes=0
inactive_msec=20
signal=-71
connected_time=1
`

// fakeHostapd is a unixgram server speaking hostapd's control protocol.
// It fails the test on a command it was not told about.
type fakeHostapd struct {
	t       *testing.T
	conn    *net.UnixConn
	mu      sync.Mutex
	replies map[string][]string // command -> replies, consumed in order
	got     []string
}

func newFake(t *testing.T, replies map[string][]string) (*fakeHostapd, string) {
	t.Helper()
	dir := t.TempDir()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "wlan0"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeHostapd{t: t, conn: conn, replies: replies}
	done := make(chan struct{})
	go f.serve(done)
	t.Cleanup(func() { conn.Close(); <-done })
	return f, dir
}

func (f *fakeHostapd) serve(done chan struct{}) {
	defer close(done)
	buf := make([]byte, 4096)
	for {
		n, from, err := f.conn.ReadFromUnix(buf)
		if err != nil {
			return
		}
		cmd := string(buf[:n])
		f.mu.Lock()
		f.got = append(f.got, cmd)
		rs := f.replies[cmd]
		var r string
		if len(rs) == 0 {
			f.t.Errorf("fake hostapd: unexpected command %q", cmd)
			r = "UNKNOWN COMMAND\n"
		} else {
			r, f.replies[cmd] = rs[0], rs[1:]
		}
		f.mu.Unlock()
		if r == "<silence>" {
			continue
		}
		if _, err := f.conn.WriteToUnix([]byte(r), from); err != nil {
			f.t.Errorf("fake hostapd: reply: %v", err)
		}
	}
}

func (f *fakeHostapd) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func dialFake(t *testing.T, dir string) *Client {
	t.Helper()
	c, err := Dial(dir, "wlan0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientStatus(t *testing.T) {
	_, dir := newFake(t, map[string][]string{"STATUS": {statusReply}})
	c := dialFake(t, dir)
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Status{State: "ENABLED", SSID: `Café "x"`, BSSID: "02:00:00:00:00:00", Channel: 6, Freq: 2437, NumSTA: 2, IEEE80211N: true}
	if diff := cmp.Diff(want, st, cmpopts.IgnoreFields(Status{}, "Raw")); diff != "" {
		t.Errorf("Status (-want +got):\n%s", diff)
	}
	if st.Raw["phy"] != "phy0" {
		t.Errorf("Raw[phy] = %q", st.Raw["phy"])
	}
}

func TestClientStations(t *testing.T) {
	tests := []struct {
		name    string
		replies map[string][]string
		want    []string
	}{
		{"two", map[string][]string{
			"STA-FIRST":                  {sta1},
			"STA-NEXT 02:00:00:00:01:00": {sta2},
			"STA-NEXT 02:00:00:00:02:00": {""},
		}, []string{"02:00:00:00:01:00", "02:00:00:00:02:00"}},
		{"none", map[string][]string{"STA-FIRST": {""}}, nil},
		{"station left during the walk", map[string][]string{
			"STA-FIRST":                  {sta1},
			"STA-NEXT 02:00:00:00:01:00": {"FAIL\n"},
		}, []string{"02:00:00:00:01:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dir := newFake(t, tt.replies)
			c := dialFake(t, dir)
			sts, err := c.Stations(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range sts {
				got = append(got, s.Addr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStation(t *testing.T) {
	got, err := ParseStation(sta1)
	if err != nil {
		t.Fatal(err)
	}
	want := Station{
		Addr: "02:00:00:00:01:00", Flags: []string{"AUTH", "ASSOC", "AUTHORIZED", "WMM", "MFP", "HT"},
		Signal: -30, ConnectedTime: 42 * time.Second, Inactive: 1316 * time.Millisecond,
		RxBytes: 6311, TxBytes: 3457, KeyMgmt: "SAE",
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Station{}, "Raw")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !got.Authorized() {
		t.Error("Authorized() = false")
	}
	got2, err := ParseStation(sta2)
	if err != nil {
		t.Fatal(err)
	}
	if got2.RxBytes != 9876543210 || got2.Authorized() || got2.Signal != -71 {
		t.Errorf("sta2 = %+v", got2)
	}
	for _, bad := range []string{"FAIL\n", "not-a-mac\nflags=[AUTH]\n", "02:00:00:00:01:00\nsignal=loud\n", "02:00:00:00:01:00\nnoequals\n"} {
		if _, err := ParseStation(bad); err == nil {
			t.Errorf("ParseStation(%q) = nil error", bad)
		}
	}
}

func TestClientCommands(t *testing.T) {
	f, dir := newFake(t, map[string][]string{
		"PING":                             {"PONG\n"},
		"RELOAD":                           {"OK\n", "FAIL\n"},
		"DEAUTHENTICATE 02:00:00:00:01:0a": {"OK\n"},
	})
	c := dialFake(t, dir)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := c.Reload(ctx); err != nil {
		t.Errorf("Reload: %v", err)
	}
	if err := c.Reload(ctx); err == nil || !strings.Contains(err.Error(), `"FAIL"`) {
		t.Errorf("second Reload error = %v, want the FAIL reply", err)
	}
	if err := c.Deauth(ctx, "02-00-00-00-01-0A"); err != nil {
		t.Errorf("Deauth: %v", err)
	}
	if err := c.Deauth(ctx, "02:00:00:00:01:0a\nRELOAD"); err == nil {
		t.Error("Deauth accepted a MAC with a newline")
	}
	want := []string{"PING", "RELOAD", "RELOAD", "DEAUTHENTICATE 02:00:00:00:01:0a"}
	if diff := cmp.Diff(want, f.commands()); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

// A reply that arrives after its request timed out must not be taken for
// the next request's reply.
func TestClientTimeoutThenStaleReply(t *testing.T) {
	_, dir := newFake(t, map[string][]string{"PING": {"<silence>", "PONG\n"}, "STATUS": {statusReply}})
	c := dialFake(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping with a silent server = %v, want deadline exceeded", err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatalf("Status: %v", err)
	}
}

func TestClientCancel(t *testing.T) {
	_, dir := newFake(t, map[string][]string{"PING": {"<silence>"}})
	c := dialFake(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := c.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping = %v, want context.Canceled", err)
	}
}

func TestDialMissingSocket(t *testing.T) {
	if _, err := Dial(t.TempDir(), "wlan0"); err == nil || !strings.Contains(err.Error(), "wlan0") {
		t.Errorf("Dial = %v, want an error naming the socket", err)
	}
}

func TestParseStatusErrors(t *testing.T) {
	for _, bad := range []string{"", "FAIL\n", "state=ENABLED\nchannel=six\n", "state=ENABLED\nssid[0]=a\\q\n"} {
		if _, err := ParseStatus(bad); err == nil {
			t.Errorf("ParseStatus(%q) = nil error", bad)
		}
	}
}
