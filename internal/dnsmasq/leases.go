package dnsmasq

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Lease is one line of dnsmasq's leases file.
type Lease struct {
	// Expiry is when the lease ends; the zero time means it never does.
	Expiry   time.Time `json:"expiry"`
	MAC      string    `json:"mac"` // aa:bb:cc:dd:ee:ff; "" for DHCPv6 leases
	IP       string    `json:"ip"`
	Hostname string    `json:"hostname,omitempty"` // "" when the client sent none
	ClientID string    `json:"client_id,omitempty"`
	IAID     string    `json:"iaid,omitempty"` // DHCPv6 leases only
}

// Infinite reports whether the lease never expires.
func (l Lease) Infinite() bool { return l.Expiry.IsZero() }

// ParseLeases reads dnsmasq's leases file format: one lease a line,
// "EXPIRY MAC IP HOSTNAME CLIENTID" with "*" for an absent hostname or
// client id and an expiry of 0 for an infinite lease. The "duid" line that
// precedes DHCPv6 leases is skipped; DHCPv6 lines carry an IAID where IPv4
// lines carry the MAC.
func ParseLeases(r io.Reader) ([]Lease, error) {
	var out []Lease
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if f[0] == "duid" {
			continue
		}
		l, err := parseLease(f)
		if err != nil {
			return nil, fmt.Errorf("parsing leases line %d %q: %w", n, line, err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading leases: %w", err)
	}
	return out, nil
}

func parseLease(f []string) (Lease, error) {
	if len(f) != 5 {
		return Lease{}, fmt.Errorf("want 5 fields, have %d", len(f))
	}
	var l Lease
	exp, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || exp < 0 {
		return Lease{}, fmt.Errorf("expiry %q is not a Unix time", f[0])
	}
	if exp != 0 {
		l.Expiry = time.Unix(exp, 0)
	}
	ip, err := netip.ParseAddr(f[2])
	if err != nil {
		return Lease{}, fmt.Errorf("%q is not an IP address", f[2])
	}
	l.IP = ip.String()
	if ip.Is4() {
		hw, err := net.ParseMAC(f[1])
		switch {
		case err == nil:
			l.MAC = hw.String()
		case isHWTypeMAC(f[1]):
			// dnsmasq writes TYPE-MAC for hardware other than Ethernet.
			l.MAC = strings.ToLower(f[1])
		default:
			return Lease{}, fmt.Errorf("%q is not a MAC address", f[1])
		}
	} else {
		if _, err := strconv.ParseUint(f[1], 10, 32); err != nil {
			return Lease{}, fmt.Errorf("IAID %q is not a number", f[1])
		}
		l.IAID = f[1]
	}
	if f[3] != "*" {
		l.Hostname = f[3]
	}
	if f[4] != "*" {
		l.ClientID = f[4]
	}
	return l, nil
}

func isHWTypeMAC(s string) bool {
	t, rest, ok := strings.Cut(s, "-")
	if !ok || t == "" || rest == "" {
		return false
	}
	if _, err := strconv.ParseUint(t, 16, 8); err != nil {
		return false
	}
	for _, p := range strings.Split(rest, ":") {
		if _, err := strconv.ParseUint(p, 16, 8); err != nil || len(p) != 2 {
			return false
		}
	}
	return true
}

// ReadLeases reads the leases file at path; a missing file is no leases.
func ReadLeases(path string) ([]Lease, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return []Lease{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading leases: %w", err)
	}
	defer f.Close()
	ls, err := ParseLeases(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if ls == nil {
		ls = []Lease{}
	}
	return ls, nil
}
