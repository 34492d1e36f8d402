package dhcpsrv

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/fielderr"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	c := config.Default() // ap.address 192.168.4.1/24, hostname device
	good := Settings{Start: "192.168.4.2", End: "192.168.4.20", LeaseTime: 86400, StaticLeases: []dnsmasq.StaticLease{}}
	with := func(f func(*Settings)) Settings {
		s := good
		s.StaticLeases = []dnsmasq.StaticLease{}
		f(&s)
		return s
	}
	many := make([]dnsmasq.StaticLease, MaxStaticLeases+1)
	for i := range many {
		many[i] = lease(fmt.Sprintf("02:00:00:00:%02x:%02x", i/256, i%256), fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), "")
	}
	tests := []struct {
		name string
		in   Settings
		want []string // the fields named, in order
	}{
		{"good", good, nil},
		{"static leases inside and outside the range", with(func(s *Settings) {
			s.StaticLeases = []dnsmasq.StaticLease{lease("02:00:00:00:00:01", "192.168.4.5", "a"), lease("02:00:00:00:00:02", "192.168.4.200", "")}
		}), nil},
		{"one address range", with(func(s *Settings) { s.End = s.Start }), nil},
		{"start not an address", with(func(s *Settings) { s.Start = "192.168.4" }), []string{"start"}},
		{"start IPv6", with(func(s *Settings) { s.Start = "fd00::2" }), []string{"start"}},
		{"start outside the subnet", with(func(s *Settings) { s.Start = "192.168.5.2" }), []string{"start"}},
		{"start is the network", with(func(s *Settings) { s.Start = "192.168.4.0" }), []string{"start"}},
		{"start is the AP", with(func(s *Settings) { s.Start = "192.168.4.1" }), []string{"start"}},
		{"end is the broadcast", with(func(s *Settings) { s.End = "192.168.4.255" }), []string{"end"}},
		{"end before start", with(func(s *Settings) { s.Start, s.End = "192.168.4.20", "192.168.4.2" }), []string{"end"}},
		{"range holds the AP", with(func(s *Settings) { s.Start, s.End = "192.168.4.0", "192.168.4.9" }), []string{"start"}},
		{"start below the subnet", with(func(s *Settings) { s.Start, s.End = "192.168.3.255", "192.168.4.9" }), []string{"start"}},
		{"lease too short", with(func(s *Settings) { s.LeaseTime = 119 }), []string{"lease_time"}},
		{"lease too long", with(func(s *Settings) { s.LeaseTime = 30*24*3600 + 1 }), []string{"lease_time"}},
		{"lease overflows", with(func(s *Settings) { s.LeaseTime = 1 << 62 }), []string{"lease_time"}},
		{"lease negative", with(func(s *Settings) { s.LeaseTime = -5 }), []string{"lease_time"}},
		{"too many static leases", with(func(s *Settings) { s.StaticLeases = many }), []string{"static_leases"}},
		{"bad fields of leases", with(func(s *Settings) {
			s.StaticLeases = []dnsmasq.StaticLease{
				lease("02:00:00:00:00:01", "192.168.4.50", "ok"),
				lease("01:00:00:00:00:01", "192.168.4.1", "x_y"),
				lease("02:00:00:00:00:01", "192.168.4.50", "OK"),
			}
		}), []string{"static_leases[1].mac", "static_leases[1].ip", "static_leases[1].hostname",
			"static_leases[2].mac", "static_leases[2].ip", "static_leases[2].hostname"}},
		{"every field at once, in form order", Settings{Start: "x", End: "192.168.9.9", LeaseTime: 1,
			StaticLeases: []dnsmasq.StaticLease{lease("nope", "192.168.4.60", "")}},
			[]string{"start", "end", "lease_time", "static_leases[0].mac"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := validate(tt.in, c)
			var fields []string
			if err != nil {
				var l fielderr.List
				if !asList(err, &l) {
					t.Fatalf("validate = %v, want a fielderr.List", err)
				}
				for _, e := range l {
					if e.Message == "" || strings.Contains(e.Message, "/etc/") {
						t.Errorf("%s: message %q", e.Field, e.Message)
					}
					fields = append(fields, e.Field)
				}
			}
			if diff := cmp.Diff(tt.want, fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s\n%v", diff, err)
			}
			if err == nil && got.StaticLeases == nil {
				t.Error("no static leases is nil, want an empty list")
			}
		})
	}
}

// A range that holds the AP's own address is refused at its end.
func TestValidateRangeAroundAP(t *testing.T) {
	t.Parallel()
	c := config.Default()
	c.AP.Address = "192.168.4.10/24"
	_, err := validate(Settings{Start: "192.168.4.2", End: "192.168.4.20", LeaseTime: 3600}, c)
	var l fielderr.List
	if !asList(err, &l) || len(l) != 1 || l[0].Field != "end" || !strings.Contains(l[0].Message, "contains the AP address 192.168.4.10") {
		t.Errorf("validate = %v, want end: contains the AP address", err)
	}
}

func asList(err error, l *fielderr.List) bool {
	x, ok := err.(fielderr.List)
	*l = x
	return ok
}

// What comes back from validate is normalised, and passes again unchanged
// (as settings read back from disk must).
func TestValidateNormalises(t *testing.T) {
	t.Parallel()
	c := config.Default()
	in := Settings{Start: "192.168.4.2", End: "192.168.4.20", LeaseTime: 3600,
		StaticLeases: []dnsmasq.StaticLease{lease("0A-1B-2C-3D-4E-5F", "192.168.4.50", "Cam")}}
	got, err := validate(in, c)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.StaticLeases = []dnsmasq.StaticLease{lease("0a:1b:2c:3d:4e:5f", "192.168.4.50", "Cam")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := got.valid(c); err != nil {
		t.Errorf("normalised settings are not valid: %v", err)
	}
	if err := in.valid(c); err == nil {
		t.Error("settings that change under validation are valid")
	}
}

func TestFieldChanges(t *testing.T) {
	t.Parallel()
	a := Settings{Start: "192.168.4.2", End: "192.168.4.20", LeaseTime: 86400, StaticLeases: []dnsmasq.StaticLease{
		lease("02:00:00:00:00:01", "192.168.4.50", "printer"), lease("02:00:00:00:00:02", "192.168.4.51", ""),
		lease("02:00:00:00:00:03", "192.168.4.52", "gone")}}
	b := Settings{Start: "192.168.4.100", End: "192.168.4.20", LeaseTime: 5400, StaticLeases: []dnsmasq.StaticLease{
		lease("02:00:00:00:00:04", "192.168.4.53", "new"), lease("02:00:00:00:00:01", "192.168.4.50", "printer"),
		lease("02:00:00:00:00:02", "192.168.4.61", "")}}
	want := []change.FieldChange{
		{Field: "start", Old: "192.168.4.2", New: "192.168.4.100"},
		{Field: "lease_time", Old: "24h", New: "90m"},
		{Field: "static_lease", Old: "", New: "02:00:00:00:00:04 192.168.4.53 new"},
		{Field: "static_lease", Old: "02:00:00:00:00:02 192.168.4.51", New: "02:00:00:00:00:02 192.168.4.61"},
		{Field: "static_lease", Old: "02:00:00:00:00:03 192.168.4.52 gone", New: ""},
	}
	if diff := cmp.Diff(want, fieldChanges(a, b)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"start", "lease_time", "static_leases"}, changedFields(a, b)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if got := fieldChanges(a, a); got != nil {
		t.Errorf("no change: %v", got)
	}
	// Many leases: one entry counts them, and the engine takes what it is
	// told (at most 32 entries).
	many := a
	many.StaticLeases = nil
	for i := range 100 {
		many.StaticLeases = append(many.StaticLeases, lease(fmt.Sprintf("02:00:00:00:01:%02x", i), fmt.Sprintf("192.168.4.%d", 100+i), ""))
	}
	got := fieldChanges(a, many)
	want = []change.FieldChange{{Field: "static_leases", Old: "3 static leases", New: "100 static leases (100 added, 0 changed, 3 removed)"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("many (-want +got):\n%s", diff)
	}
}
