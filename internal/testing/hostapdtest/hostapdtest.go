// Package hostapdtest is a stand-in for a running hostapd in tests that have
// no radio: a unixgram server on the control socket answering the commands
// devmgr sends (STATUS, STA-FIRST, STA-NEXT, RELOAD, DEAUTHENTICATE, PING)
// the way hostapd 2.10 does. Like hostapd, it reads its config file at start
// and on RELOAD, so a settings change shows in STATUS. Any other command
// fails the test.
package hostapdtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Station is an associated station.
type Station struct {
	MAC           string // lower case, colons
	Flags         string // e.g. "[AUTH][ASSOC][AUTHORIZED]"
	KeyMgmt       string // WPA-PSK, SAE; "" leaves the line out
	Signal        int    // dBm
	ConnectedTime int    // seconds
	InactiveMsec  int
	RxBytes       uint64
	TxBytes       uint64
}

func (s Station) reply() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nflags=%s\naid=1\n", s.MAC, s.Flags)
	if s.KeyMgmt != "" {
		fmt.Fprintf(&b, "hostapd_WPA_key_mgmt=%s\n", s.KeyMgmt)
	}
	fmt.Fprintf(&b, "rx_bytes=%d\ntx_bytes=%d\ninactive_msec=%d\nsignal=%d\nconnected_time=%d\n",
		s.RxBytes, s.TxBytes, s.InactiveMsec, s.Signal, s.ConnectedTime)
	return b.String()
}

// TwoStations are a WPA3 phone and a WPA2 laptop.
func TwoStations() []Station {
	return []Station{
		{MAC: "02:00:00:00:01:00", Flags: "[AUTH][ASSOC][AUTHORIZED][WMM][MFP][HT]", KeyMgmt: "SAE",
			Signal: -38, ConnectedTime: 754, InactiveMsec: 1316, RxBytes: 6_311_204, TxBytes: 31_457_280},
		{MAC: "02:00:00:00:02:00", Flags: "[AUTH][ASSOC][AUTHORIZED][WMM][HT]", KeyMgmt: "WPA-PSK",
			Signal: -71, ConnectedTime: 42, InactiveMsec: 20, RxBytes: 98_765, TxBytes: 4_321},
	}
}

// Server is the fake hostapd.
type Server struct {
	t     testing.TB
	conn  *net.UnixConn
	conf  string
	mu    sync.Mutex
	ssid  string
	chann int
	sta   []Station
	cmds  []string
}

// Start listens on ctrlDir/iface (making ctrlDir) until the test ends.
// conf is the hostapd config file it reads at start and on RELOAD (ssid,
// channel; "" or a missing file keeps SSID "DeviceManager", channel 6).
func Start(t testing.TB, ctrlDir, iface, conf string, stations []Station) *Server {
	t.Helper()
	if err := os.MkdirAll(ctrlDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(ctrlDir, iface)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("fake hostapd: %v", err)
	}
	s := &Server{t: t, conn: conn, conf: conf, ssid: "DeviceManager", chann: 6, sta: append([]Station(nil), stations...)}
	s.readConf()
	done := make(chan struct{})
	go s.serve(done)
	t.Cleanup(func() { conn.Close(); <-done; os.Remove(path) })
	return s
}

// readConf takes ssid and channel from the config file, as hostapd does.
func (s *Server) readConf() {
	if s.conf == "" {
		return
	}
	f, err := os.Open(s.conf)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "ssid":
			s.ssid = v
		case "ssid2":
			// P"..." (printf-escaped); plain test SSIDs need no decoding.
			s.ssid = strings.TrimSuffix(strings.TrimPrefix(v, `P"`), `"`)
		case "channel":
			if n, err := strconv.Atoi(v); err == nil {
				s.chann = n
			}
		}
	}
}

func freq(ch int) int {
	switch {
	case ch == 0:
		return 2437 // ACS picked 6
	case ch == 14:
		return 2484
	case ch < 14:
		return 2407 + 5*ch
	}
	return 5000 + 5*ch
}

func (s *Server) reply(cmd string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmds = append(s.cmds, cmd)
	switch {
	case cmd == "PING":
		return "PONG\n", true
	case cmd == "RELOAD":
		s.readConf()
		return "OK\n", true
	case cmd == "STATUS":
		ch := s.chann
		if ch == 0 {
			ch = 6
		}
		return fmt.Sprintf("state=ENABLED\nphy=phy0\nfreq=%d\nchannel=%d\nieee80211n=1\nieee80211ac=0\nbss[0]=wlan0\nbssid[0]=02:00:00:00:00:00\nssid[0]=%s\nnum_sta[0]=%d\n",
			freq(s.chann), ch, s.ssid, len(s.sta)), true
	case cmd == "STA-FIRST":
		if len(s.sta) == 0 {
			return "", true
		}
		return s.sta[0].reply(), true
	case strings.HasPrefix(cmd, "STA-NEXT "):
		mac := strings.TrimPrefix(cmd, "STA-NEXT ")
		for i, st := range s.sta {
			if st.MAC == mac {
				if i+1 < len(s.sta) {
					return s.sta[i+1].reply(), true
				}
				return "", true
			}
		}
		return "FAIL\n", true
	case strings.HasPrefix(cmd, "DEAUTHENTICATE "):
		mac := strings.TrimPrefix(cmd, "DEAUTHENTICATE ")
		for i, st := range s.sta {
			if st.MAC == mac {
				s.sta = append(s.sta[:i:i], s.sta[i+1:]...)
				break
			}
		}
		return "OK\n", true
	}
	return "", false
}

func (s *Server) serve(done chan struct{}) {
	defer close(done)
	buf := make([]byte, 4096)
	for {
		n, from, err := s.conn.ReadFromUnix(buf)
		if err != nil {
			return
		}
		cmd := string(buf[:n])
		r, ok := s.reply(cmd)
		if !ok {
			s.t.Errorf("fake hostapd: unexpected command %q", cmd)
			r = "UNKNOWN COMMAND\n"
		}
		_, _ = s.conn.WriteToUnix([]byte(r), from)
	}
}

// Commands returns the commands received so far.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// Count returns how many times cmd was received.
func (s *Server) Count(cmd string) int {
	n := 0
	for _, c := range s.Commands() {
		if c == cmd {
			n++
		}
	}
	return n
}

// SSID is the SSID the fake broadcasts (as of its last RELOAD).
func (s *Server) SSID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ssid
}

// Stations returns the associated stations.
func (s *Server) Stations() []Station {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Station(nil), s.sta...)
}

// SetStations replaces the associated stations (one joins, one leaves).
func (s *Server) SetStations(stations []Station) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sta = append([]Station(nil), stations...)
}
