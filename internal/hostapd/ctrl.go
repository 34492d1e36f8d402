package hostapd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultRequestTimeout bounds one control request when ctx has no deadline.
const DefaultRequestTimeout = 5 * time.Second

// Client talks to one hostapd interface over its control socket
// (<ctrl_interface>/<iface>, a unixgram socket), the way hostapd_cli does,
// without running hostapd_cli. It is safe for concurrent use; requests are
// serialised.
type Client struct {
	mu    sync.Mutex
	conn  *net.UnixConn
	dir   string // holds our own bound socket, removed by Close
	iface string
	buf   []byte
}

// Dial connects to hostapd's control socket for iface in ctrlDir.
func Dial(ctrlDir, iface string) (*Client, error) {
	remote := filepath.Join(ctrlDir, iface)
	// hostapd answers to the sender's address, so the client binds a
	// socket of its own, in a private directory.
	dir, err := os.MkdirTemp("", "devmgr-hostapd-ctrl-")
	if err != nil {
		return nil, fmt.Errorf("dialing hostapd %s: %w", remote, err)
	}
	local := &net.UnixAddr{Name: filepath.Join(dir, "sock"), Net: "unixgram"}
	conn, err := net.DialUnix("unixgram", local, &net.UnixAddr{Name: remote, Net: "unixgram"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("dialing hostapd %s: %w", remote, err)
	}
	return &Client{conn: conn, dir: dir, iface: iface, buf: make([]byte, 64<<10)}, nil
}

// Close closes the socket and removes the client's own socket file.
func (c *Client) Close() error {
	err := c.conn.Close()
	if rerr := os.RemoveAll(c.dir); err == nil {
		err = rerr
	}
	return err
}

// Request sends one control command and returns hostapd's reply verbatim.
func (c *Client) Request(ctx context.Context, cmd string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultRequestTimeout)
	}
	// A reply to an earlier request that timed out may still be queued;
	// drop it so it is not taken for this one's.
	_ = c.conn.SetReadDeadline(time.Now())
	for {
		if _, err := c.conn.Read(c.buf); err != nil {
			break
		}
	}
	if err := c.conn.SetDeadline(deadline); err != nil {
		return "", fmt.Errorf("hostapd %s %s: %w", c.iface, verb(cmd), err)
	}
	// Cancellation interrupts the read by moving the deadline; the guard
	// keeps a late-running callback from cutting short a later request.
	var guard sync.Mutex
	active := true
	stop := context.AfterFunc(ctx, func() {
		guard.Lock()
		defer guard.Unlock()
		if active {
			_ = c.conn.SetDeadline(time.Now())
		}
	})
	defer func() {
		stop()
		guard.Lock()
		active = false
		guard.Unlock()
	}()
	if _, err := c.conn.Write([]byte(cmd)); err != nil {
		return "", fmt.Errorf("hostapd %s %s: %w", c.iface, verb(cmd), ctxErr(ctx, err))
	}
	n, err := c.conn.Read(c.buf)
	if err != nil {
		return "", fmt.Errorf("hostapd %s %s: no reply: %w", c.iface, verb(cmd), ctxErr(ctx, err))
	}
	return string(c.buf[:n]), nil
}

// ctxErr reports a read cut short by ctx as ctx's error; the socket
// deadline can fire a moment before ctx's own timer.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if d, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return err
}

func verb(cmd string) string {
	v, _, _ := strings.Cut(cmd, " ")
	return v
}

// expectOK sends cmd and wants "OK" (or want) back.
func (c *Client) expect(ctx context.Context, cmd, want string) error {
	r, err := c.Request(ctx, cmd)
	if err != nil {
		return err
	}
	if strings.TrimSpace(r) != want {
		return fmt.Errorf("hostapd %s %s: replied %q", c.iface, verb(cmd), strings.TrimSpace(r))
	}
	return nil
}

// Ping checks that hostapd answers.
func (c *Client) Ping(ctx context.Context) error { return c.expect(ctx, "PING", "PONG") }

// Reload makes hostapd re-read its configuration file.
func (c *Client) Reload(ctx context.Context) error { return c.expect(ctx, "RELOAD", "OK") }

// Deauth disconnects the station mac.
func (c *Client) Deauth(ctx context.Context, mac string) error {
	m, err := NormalizeMAC(mac)
	if err != nil {
		return fmt.Errorf("deauthenticating: %w", err)
	}
	return c.expect(ctx, "DEAUTHENTICATE "+m, "OK")
}

// Status is hostapd's STATUS reply for one interface (its first BSS).
type Status struct {
	State       string            `json:"state"` // ENABLED, DISABLED, ACS, HT_SCAN, DFS, COUNTRY_UPDATE, UNINITIALIZED
	SSID        string            `json:"ssid"`
	BSSID       string            `json:"bssid"`
	Channel     int               `json:"channel"`
	Freq        int               `json:"freq"` // MHz
	NumSTA      int               `json:"num_sta"`
	IEEE80211N  bool              `json:"ieee80211n"`
	IEEE80211AC bool              `json:"ieee80211ac"`
	Raw         map[string]string `json:"-"` // every key=value line
}

// Status asks hostapd for its state.
func (c *Client) Status(ctx context.Context) (Status, error) {
	r, err := c.Request(ctx, "STATUS")
	if err != nil {
		return Status{}, err
	}
	return ParseStatus(r)
}

// ParseStatus parses a STATUS reply.
func ParseStatus(reply string) (Status, error) {
	kv, err := parseKV(reply)
	if err != nil {
		return Status{}, fmt.Errorf("parsing hostapd STATUS: %w", err)
	}
	st := Status{State: kv["state"], BSSID: kv["bssid[0]"], Raw: kv}
	if st.State == "" {
		return Status{}, fmt.Errorf("parsing hostapd STATUS: no state in %q", truncate(reply))
	}
	if s, ok := kv["ssid[0]"]; ok {
		if st.SSID, err = printfDecode(s); err != nil {
			return Status{}, fmt.Errorf("parsing hostapd STATUS ssid[0]=%q: %w", s, err)
		}
	}
	for _, f := range []struct {
		key string
		dst *int
	}{{"channel", &st.Channel}, {"freq", &st.Freq}, {"num_sta[0]", &st.NumSTA}} {
		if v, ok := kv[f.key]; ok {
			if *f.dst, err = strconv.Atoi(v); err != nil {
				return Status{}, fmt.Errorf("parsing hostapd STATUS %s=%q: not a number", f.key, v)
			}
		}
	}
	st.IEEE80211N = kv["ieee80211n"] == "1"
	st.IEEE80211AC = kv["ieee80211ac"] == "1"
	return st, nil
}

// Station is one associated station from STA-FIRST/STA-NEXT.
type Station struct {
	Addr          string            `json:"addr"`
	Flags         []string          `json:"flags"`  // AUTH, ASSOC, AUTHORIZED, WMM, HT, MFP, ...
	Signal        int               `json:"signal"` // dBm; 0 when unknown
	ConnectedTime time.Duration     `json:"connected_time"`
	Inactive      time.Duration     `json:"inactive"`
	RxBytes       uint64            `json:"rx_bytes"`
	TxBytes       uint64            `json:"tx_bytes"`
	KeyMgmt       string            `json:"key_mgmt,omitempty"` // WPA-PSK, SAE
	Raw           map[string]string `json:"-"`
}

// Authorized reports whether the station finished its key handshake.
func (s Station) Authorized() bool {
	for _, f := range s.Flags {
		if f == "AUTHORIZED" {
			return true
		}
	}
	return false
}

// maxStations bounds the STA-NEXT walk against a misbehaving peer.
const maxStations = 4096

// Stations lists associated stations with STA-FIRST and STA-NEXT (ALL_STA
// can be truncated at hostapd's reply size limit).
func (c *Client) Stations(ctx context.Context) ([]Station, error) {
	var out []Station
	cmd := "STA-FIRST"
	for range maxStations {
		r, err := c.Request(ctx, cmd)
		if err != nil {
			return nil, err
		}
		// An empty reply ends the list; so does FAIL from STA-NEXT when the
		// previous station left during the walk.
		if strings.TrimSpace(r) == "" || (cmd != "STA-FIRST" && strings.TrimSpace(r) == "FAIL") {
			return out, nil
		}
		st, err := ParseStation(r)
		if err != nil {
			return nil, fmt.Errorf("hostapd %s %s: %w", c.iface, verb(cmd), err)
		}
		out = append(out, st)
		cmd = "STA-NEXT " + st.Addr
	}
	return nil, fmt.Errorf("hostapd %s: more than %d stations", c.iface, maxStations)
}

// ParseStation parses one STA/STA-FIRST/STA-NEXT reply: the MAC address on
// the first line, then key=value lines.
func ParseStation(reply string) (Station, error) {
	first, rest, _ := strings.Cut(reply, "\n")
	addr, err := NormalizeMAC(strings.TrimSpace(first))
	if err != nil {
		return Station{}, fmt.Errorf("parsing station %q: %w", truncate(reply), err)
	}
	kv, err := parseKV(rest)
	if err != nil {
		return Station{}, fmt.Errorf("parsing station %s: %w", addr, err)
	}
	st := Station{Addr: addr, Raw: kv, KeyMgmt: kv["hostapd_WPA_key_mgmt"]}
	if f := kv["flags"]; f != "" {
		for _, p := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(f, "["), "]"), "][") {
			if p != "" {
				st.Flags = append(st.Flags, p)
			}
		}
	}
	num := func(key string, bits int, set func(v uint64, neg bool)) error {
		v, ok := kv[key]
		if !ok || v == "" {
			return nil
		}
		neg := strings.HasPrefix(v, "-")
		n, err := strconv.ParseUint(strings.TrimPrefix(v, "-"), 10, bits)
		if err != nil {
			return fmt.Errorf("parsing station %s %s=%q: not a number", addr, key, v)
		}
		set(n, neg)
		return nil
	}
	err = errors.Join(
		num("signal", 16, func(v uint64, neg bool) {
			st.Signal = int(v)
			if neg {
				st.Signal = -st.Signal
			}
		}),
		num("connected_time", 32, func(v uint64, _ bool) { st.ConnectedTime = time.Duration(v) * time.Second }),
		num("inactive_msec", 32, func(v uint64, _ bool) { st.Inactive = time.Duration(v) * time.Millisecond }),
		num("rx_bytes", 64, func(v uint64, _ bool) { st.RxBytes = v }),
		num("tx_bytes", 64, func(v uint64, _ bool) { st.TxBytes = v }),
	)
	if err != nil {
		return Station{}, err
	}
	return st, nil
}

func parseKV(s string) (map[string]string, error) {
	kv := map[string]string{}
	for i, l := range strings.Split(s, "\n") {
		if l == "" {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("line %d %q is not key=value", i+1, l)
		}
		kv[k] = v
	}
	return kv, nil
}

// printfDecode reverses hostapd's printf_encode (used for SSIDs in STATUS).
func printfDecode(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			return "", errors.New("ends in a lone backslash")
		}
		switch s[i] {
		case '\\', '"':
			b.WriteByte(s[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'e':
			b.WriteByte(0x1b)
		case 'x':
			if i+3 > len(s) {
				return "", errors.New("short \\x escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("bad \\x escape %q", s[i-1:i+3])
			}
			b.WriteByte(byte(v))
			i += 2
		default:
			return "", fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
