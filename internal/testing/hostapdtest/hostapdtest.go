// Package hostapdtest is a stand-in for a running hostapd where there is no
// radio: a unixgram server on the control socket answering the commands
// devmgr sends (STATUS, STA-FIRST, STA-NEXT, RELOAD, DEAUTHENTICATE, PING)
// the way hostapd 2.10 does. Tests start it with Start (an unknown command
// fails the test); `make run` runs it in its network-namespace lab with
// Listen (internal/testing/devrun).
//
// Like hostapd, it reads its config file at start and on RELOAD, so a
// settings change shows in STATUS, and the deny_mac_file the config names:
// a station on it is not associated. The stations in range are associated
// at start, again after each RELOAD (hostapd drops its stations when it
// reloads, and the allowed ones come back), and until a DEAUTHENTICATE.
package hostapdtest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Station is a station in range of the access point.
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

// Config says where a Server listens and what it reads.
type Config struct {
	// Socket is the control socket, ctrl_interface/interface; its
	// directory is made. The interface is its last element.
	Socket string
	// Conf is the hostapd config file read at start and on RELOAD (ssid,
	// channel, deny_mac_file); "" or a missing file keeps SSID
	// "DeviceManager", channel 6, no deny list.
	Conf string
	// Root prefixes the files the config names (deny_mac_file) when they
	// are read, as apmgr.Config.Root does when they are written; "" reads
	// them as named.
	Root string
	// Stations are in range of the access point.
	Stations []Station
	// BSSID is the access point's address; default 02:00:00:00:00:00.
	BSSID string
	// Unknown, if set, is told of each command the server does not know
	// (it answers UNKNOWN COMMAND, as hostapd does).
	Unknown func(cmd string)
}

// Server is the stand-in hostapd.
type Server struct {
	cfg   Config
	iface string
	conn  *net.UnixConn
	done  chan struct{}

	mu      sync.Mutex
	ssid    string
	chann   int
	inRange []Station
	denied  []string
	sta     []Station // associated
	cmds    []string
}

// Start listens on ctrlDir/iface (making ctrlDir) until the test ends; an
// unknown command fails the test. conf is the hostapd config file it reads
// at start and on RELOAD ("" or a missing file keeps SSID "DeviceManager",
// channel 6), root prefixes the deny_mac_file it names ("": as named).
func Start(t testing.TB, ctrlDir, iface, conf, root string, stations []Station) *Server {
	t.Helper()
	s, err := Listen(Config{Socket: filepath.Join(ctrlDir, iface), Conf: conf, Root: root, Stations: stations,
		Unknown: func(cmd string) { t.Errorf("fake hostapd: unexpected command %q", cmd) }})
	if err != nil {
		t.Fatalf("fake hostapd: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("fake hostapd: %v", err)
		}
	})
	return s
}

// Listen starts a Server on c.Socket, replacing a stale socket file; Close
// stops it.
func Listen(c Config) (*Server, error) {
	if c.BSSID == "" {
		c.BSSID = "02:00:00:00:00:00"
	}
	if err := os.MkdirAll(filepath.Dir(c.Socket), 0o755); err != nil {
		return nil, fmt.Errorf("creating the control directory: %w", err)
	}
	if err := os.Remove(c.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing a stale control socket: %w", err)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: c.Socket, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("listening on the control socket: %w", err)
	}
	s := &Server{cfg: c, iface: filepath.Base(c.Socket), conn: conn, done: make(chan struct{}),
		inRange: slices.Clone(c.Stations)}
	s.load()
	go s.serve()
	return s, nil
}

// Close stops the server and removes its socket.
func (s *Server) Close() error {
	err := s.conn.Close()
	<-s.done
	if rerr := os.Remove(s.cfg.Socket); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

// load reads the config file and the deny list it names, as hostapd does
// at start and on RELOAD, and associates the stations in range that the
// deny list lets in. Callers hold s.mu (or own s).
func (s *Server) load() {
	s.ssid, s.chann, s.denied = "DeviceManager", 6, nil
	if s.cfg.Conf != "" {
		deny := ""
		readLines(s.cfg.Conf, func(l string) {
			k, v, _ := strings.Cut(l, "=")
			switch k {
			case "ssid":
				s.ssid = v
			case "ssid2":
				// P"..." (printf-escaped); plain SSIDs need no decoding.
				s.ssid = strings.TrimSuffix(strings.TrimPrefix(v, `P"`), `"`)
			case "channel":
				if n, err := strconv.Atoi(v); err == nil {
					s.chann = n
				}
			case "deny_mac_file":
				deny = v
			}
		})
		if deny != "" {
			if s.cfg.Root != "" {
				deny = filepath.Join(s.cfg.Root, deny)
			}
			readLines(deny, func(l string) {
				if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
					s.denied = append(s.denied, strings.ToLower(f[0]))
				}
			})
		}
	}
	s.associate()
}

// associate makes the stations in range that are not denied the associated ones.
func (s *Server) associate() {
	s.sta = slices.DeleteFunc(slices.Clone(s.inRange), func(st Station) bool { return slices.Contains(s.denied, st.MAC) })
}

// readLines calls f with each line of a file; a missing file has none.
func readLines(path string, f func(string)) {
	file, err := os.Open(path)
	if err != nil {
		return
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		f(sc.Text())
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
		s.load()
		return "OK\n", true
	case cmd == "STATUS":
		ch := s.chann
		if ch == 0 {
			ch = 6
		}
		return fmt.Sprintf("state=ENABLED\nphy=phy0\nfreq=%d\nchannel=%d\nieee80211n=1\nieee80211ac=0\nbss[0]=%s\nbssid[0]=%s\nssid[0]=%s\nnum_sta[0]=%d\n",
			freq(s.chann), ch, s.iface, s.cfg.BSSID, s.ssid, len(s.sta)), true
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
		s.sta = slices.DeleteFunc(s.sta, func(st Station) bool { return st.MAC == mac })
		return "OK\n", true
	}
	return "", false
}

func (s *Server) serve() {
	defer close(s.done)
	buf := make([]byte, 4096)
	for {
		n, from, err := s.conn.ReadFromUnix(buf)
		if err != nil {
			return
		}
		cmd := string(buf[:n])
		r, ok := s.reply(cmd)
		if !ok {
			if s.cfg.Unknown != nil {
				s.cfg.Unknown(cmd)
			}
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

// SSID is the SSID the server broadcasts (as of its last RELOAD).
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

// SetStations replaces the stations in range (one joins, one leaves); those
// the deny list lets in are associated at once.
func (s *Server) SetStations(stations []Station) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inRange = slices.Clone(stations)
	s.associate()
}
