package dnsmasq

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseLeases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []Lease
	}{
		{"empty", "", nil},
		{"one", "1764196800 02:00:00:00:01:00 192.168.4.2 phone 01:02:00:00:00:01:00\n", []Lease{
			{Expiry: time.Unix(1764196800, 0), MAC: "02:00:00:00:01:00", IP: "192.168.4.2", Hostname: "phone", ClientID: "01:02:00:00:00:01:00"},
		}},
		{"no hostname, no client id, upper-case MAC", "1764196800 02:AB:00:00:01:00 192.168.4.3 * *\n", []Lease{
			{Expiry: time.Unix(1764196800, 0), MAC: "02:ab:00:00:01:00", IP: "192.168.4.3"},
		}},
		{"infinite", "0 02:00:00:00:01:00 192.168.4.4 printer *\n", []Lease{
			{MAC: "02:00:00:00:01:00", IP: "192.168.4.4", Hostname: "printer"},
		}},
		{"no trailing newline, blank lines", "\n1764196800 02:00:00:00:01:00 192.168.4.2 a *", []Lease{
			{Expiry: time.Unix(1764196800, 0), MAC: "02:00:00:00:01:00", IP: "192.168.4.2", Hostname: "a"},
		}},
		{"non-ethernet hardware", "1764196800 06-02:00:00:00:01:00 192.168.4.5 * *\n", []Lease{
			{Expiry: time.Unix(1764196800, 0), MAC: "06-02:00:00:00:01:00", IP: "192.168.4.5"},
		}},
		{"ipv6 after duid", "1764196800 02:00:00:00:01:00 192.168.4.2 a *\n" +
			"duid 00:01:00:01:2c:5d:2e:10:02:00:00:00:00:01\n" +
			"1764196900 1234 fd00::10 b 00:01:00:01:2c:5d:2e:10:02:00:00:00:01:00\n", []Lease{
			{Expiry: time.Unix(1764196800, 0), MAC: "02:00:00:00:01:00", IP: "192.168.4.2", Hostname: "a"},
			{Expiry: time.Unix(1764196900, 0), IP: "fd00::10", Hostname: "b", ClientID: "00:01:00:01:2c:5d:2e:10:02:00:00:00:01:00", IAID: "1234"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLeases(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseLeasesMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, line string }{
		{"garbage\n", `line 1 "garbage"`},
		{"1764196800 02:00:00:00:01:00 192.168.4.2 a *\n1764196800 02:00:00:00:01:00 192.168.4.2 a\n", `line 2 "1764196800 02:00:00:00:01:00 192.168.4.2 a"`},
		{"soon 02:00:00:00:01:00 192.168.4.2 a *\n", `expiry "soon"`},
		{"-5 02:00:00:00:01:00 192.168.4.2 a *\n", `expiry "-5"`},
		{"1764196800 02:00:00:00:01 192.168.4.2 a *\n", `"02:00:00:00:01" is not a MAC`},
		{"1764196800 02:00:00:00:01:00 192.168.4.300 a *\n", `"192.168.4.300" is not an IP`},
		{"1764196800 x fd00::1 a *\n", `IAID "x"`},
		{"1764196800 02:00:00:00:01:00 192.168.4.2 a * extra\n", "want 5 fields, have 6"},
	}
	for _, tt := range tests {
		_, err := ParseLeases(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.line) {
			t.Errorf("ParseLeases(%q) error = %v, want it to contain %s", tt.in, err, tt.line)
		}
	}
}

func TestReadLeases(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	got, err := ReadLeases(filepath.Join(dir, "missing"))
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("ReadLeases(missing) = %#v, %v; want empty list, nil", got, err)
	}
	p := filepath.Join(dir, "leases")
	if err := os.WriteFile(p, []byte("0 02:00:00:00:01:00 192.168.4.2 * *\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = ReadLeases(p)
	if err != nil || len(got) != 1 || !got[0].Infinite() {
		t.Errorf("ReadLeases = %#v, %v", got, err)
	}
	if err := os.WriteFile(p, []byte("bad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLeases(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("ReadLeases(bad) error = %v, want it to name the file", err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadLeases(empty); err != nil || got == nil || len(got) != 0 {
		t.Errorf("ReadLeases(empty) = %#v, %v", got, err)
	}
}
