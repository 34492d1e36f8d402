package diag

import (
	"errors"
	"fmt"
	"github.com/devmgr/devmgr/internal/fielderr"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateHost(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 64)
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1", true},
		{"::1", true},
		{"2001:db8::1", true},
		{"example.com", true},
		{"example.com.", true},
		{"a-b.example", true},
		{"localhost", true},
		{"xn--bcher-kva.example", true},
		{"1e100.net", true},
		{"", false},
		{"-c", false},
		{"--help", false},
		{"-1.2.3.4", false},
		{"fe80::1%eth0", false},
		{"0.0.0.0", false},
		{"::", false},
		{"exa mple.com", false},
		{"example..com", false},
		{".example.com", false},
		{"a-.example", false},
		{"-a.example", false},
		{"ex_ample.com", false},
		{"example.com;reboot", false},
		{"$(reboot)", false},
		{"`id`", false},
		{"a/b", false},
		{"host\nname", false},
		{long + ".com", false},
		{strings.Repeat("a.", 127) + "aa", false},
		{"1.2.3", false},
		{"256.1.1.1", false},
		{"ünicode.example", false},
		{".", false},
	}
	for _, tt := range tests {
		err := ValidateHost("host", tt.host)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateHost(%q) = %v, want ok=%v", tt.host, err, tt.ok)
			continue
		}
		if err != nil {
			checkField(t, fmt.Sprintf("ValidateHost(%q)", tt.host), err, "host")
		}
	}
}

func TestPingRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		req   PingRequest
		field string // "" valid
	}{
		{PingRequest{Host: "127.0.0.1"}, ""},
		{PingRequest{Host: "127.0.0.1", Count: 1}, ""},
		{PingRequest{Host: "127.0.0.1", Count: 10}, ""},
		{PingRequest{Host: "127.0.0.1", Count: 11}, "count"},
		{PingRequest{Host: "127.0.0.1", Count: -1}, "count"},
		{PingRequest{Host: "-f", Count: 1}, "host"},
		{PingRequest{Count: 1}, "host"},
	}
	for _, tt := range tests {
		err := tt.req.Validate()
		checkField(t, "ping", err, tt.field)
	}
	r := PingRequest{Host: "example.com"}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ping", "-n", "-c", "4", "-W", "2", "--", "example.com"}, r.Argv()); diff != "" {
		t.Errorf("ping argv (-want +got):\n%s", diff)
	}
}

func TestTracerouteRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		req   TracerouteRequest
		field string
	}{
		{TracerouteRequest{Host: "::1"}, ""},
		{TracerouteRequest{Host: "::1", MaxHops: 1}, ""},
		{TracerouteRequest{Host: "::1", MaxHops: 30}, ""},
		{TracerouteRequest{Host: "::1", MaxHops: 31}, "max_hops"},
		{TracerouteRequest{Host: "::1", MaxHops: -3}, "max_hops"},
		{TracerouteRequest{Host: "-I", MaxHops: 3}, "host"},
	}
	for _, tt := range tests {
		checkField(t, "traceroute", tt.req.Validate(), tt.field)
	}
	r := TracerouteRequest{Host: "192.0.2.1", MaxHops: 5}
	if diff := cmp.Diff([]string{"traceroute", "-n", "-q", "1", "-w", "2", "-m", "5", "--", "192.0.2.1"}, r.Argv()); diff != "" {
		t.Errorf("traceroute argv (-want +got):\n%s", diff)
	}
}

func TestDNSRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		req   DNSRequest
		field string
	}{
		{DNSRequest{Name: "example.com"}, ""},
		{DNSRequest{Name: "example.com", Type: "mx"}, ""},
		{DNSRequest{Name: "_dmarc.example.com", Type: "TXT"}, ""},
		{DNSRequest{Name: "192.0.2.1", Type: "PTR"}, ""},
		{DNSRequest{Name: "2001:db8::1", Type: "PTR"}, ""},
		{DNSRequest{Name: "1.2.0.192.in-addr.arpa", Type: "PTR"}, ""},
		{DNSRequest{Name: ".", Type: "NS"}, ""},
		{DNSRequest{Name: "example.com", Server: "192.0.2.53"}, ""},
		{DNSRequest{Name: "example.com", Server: "2001:db8::53"}, ""},
		{DNSRequest{Name: ""}, "name"},
		{DNSRequest{Name: "-x"}, "name"},
		{DNSRequest{Name: "a..b"}, "name"},
		{DNSRequest{Name: "a b"}, "name"},
		{DNSRequest{Name: "192.0.2.1", Type: "A"}, "name"},
		{DNSRequest{Name: "example.com", Type: "ANY"}, "type"},
		{DNSRequest{Name: "example.com", Type: "SOA"}, "type"},
		{DNSRequest{Name: "example.com", Server: "dns.example"}, "server"},
		{DNSRequest{Name: "example.com", Server: "192.0.2.1:53"}, "server"},
		{DNSRequest{Name: "example.com", Server: "0.0.0.0"}, "server"},
		{DNSRequest{Name: "example.com", Server: "224.0.0.1"}, "server"},
		{DNSRequest{Name: "example.com", Server: "fe80::1%eth0"}, "server"},
	}
	for _, tt := range tests {
		checkField(t, "dns "+tt.req.Name, tt.req.Validate(), tt.field)
	}
}

func checkField(t *testing.T, what string, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Errorf("%s: unexpected error %v", what, err)
		}
		return
	}
	var fe *fielderr.Error
	if !errors.As(err, &fe) {
		t.Errorf("%s: error %v, want a fielderr.Error for %s", what, err, field)
		return
	}
	if fe.Field != field {
		t.Errorf("%s: error names field %q (%s), want %q", what, fe.Field, fe.Message, field)
	}
	// A sentence about the field as the form labels it, shown beside it.
	if !strings.HasPrefix(fe.Message, labels[field]+" ") || !strings.HasSuffix(fe.Message, ".") || strings.Contains(fe.Message, "%!") {
		t.Errorf("%s: message %q is not a sentence about %q", what, fe.Message, labels[field])
	}
}

// A count or hop limit that was sent is refused out of range, 0 as well
// (0 left out is the default), with the same sentence.
func TestCheckRange(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, -1, 11, 99} {
		checkField(t, fmt.Sprintf("count %d", n), CheckCount(n), "count")
		if err := CheckCount(n); err.Error() != "count: Count must be from 1 to 10." {
			t.Errorf("CheckCount(%d) = %q", n, err)
		}
	}
	for _, n := range []int{0, 31} {
		checkField(t, fmt.Sprintf("max_hops %d", n), CheckMaxHops(n), "max_hops")
	}
	for _, n := range []int{1, 10} {
		checkField(t, fmt.Sprintf("count %d", n), CheckCount(n), "")
	}
}

func TestReverseName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"192.0.2.1":   "1.2.0.192.in-addr.arpa.",
		"2001:db8::1": "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
	}
	for in, want := range tests {
		r := DNSRequest{Name: in, Type: "PTR"}
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := reverseName(mustAddr(t, in)); got != want {
			t.Errorf("reverseName(%s) = %s, want %s", in, got, want)
		}
	}
}
