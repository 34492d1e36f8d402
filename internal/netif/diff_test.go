package netif

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/change"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	up, down := true, false
	link := State{Name: "eth1", AdminUp: true, MTU: 1500,
		Addresses: []AddrState{{CIDR: "203.0.113.1/24"}, {CIDR: "2001:db8:1::1/64"}},
		Routes:    []Route{DefaultRoute("2001:db8:1::2"), {Dst: "198.18.0.0/15", Gateway: "203.0.113.9"}, DefaultRoute("203.0.113.2")},
	}
	static := LinkConfig{Mode: ModeStatic, Addresses: []string{"10.0.0.2/24"}, Gateway: "10.0.0.1", DNS: []string{"10.0.0.1", "10.0.0.3"}}
	type fc [3]string // field, old, new
	tests := []struct {
		name string
		prev *LinkConfig
		link State
		next LinkConfig
		want []fc
	}{
		{"never configured: the link's values are the old ones", nil, link, static, []fc{
			{"mode", "", "static"}, {"addresses", "203.0.113.1/24, 2001:db8:1::1/64", "10.0.0.2/24"},
			{"gateway", "203.0.113.2", "10.0.0.1"}, {"dns", "", "10.0.0.1, 10.0.0.3"},
		}},
		{"never configured, to dhcp: the static addresses go", nil, link, LinkConfig{Mode: ModeDHCP}, []fc{
			{"mode", "", "dhcp"}, {"addresses", "203.0.113.1/24, 2001:db8:1::1/64", ""}, {"gateway", "203.0.113.2", ""},
		}},
		{"dhcp to static", &LinkConfig{Mode: ModeDHCP}, link, static, []fc{
			{"mode", "dhcp", "static"}, {"addresses", "", "10.0.0.2/24"}, {"gateway", "", "10.0.0.1"}, {"dns", "", "10.0.0.1, 10.0.0.3"},
		}},
		{"static to dhcp", &static, link, LinkConfig{Mode: ModeDHCP}, []fc{
			{"mode", "static", "dhcp"}, {"addresses", "10.0.0.2/24", ""}, {"gateway", "10.0.0.1", ""}, {"dns", "10.0.0.1, 10.0.0.3", ""},
		}},
		{"one DNS server and the MTU", &static, link,
			LinkConfig{Mode: ModeStatic, Addresses: static.Addresses, Gateway: static.Gateway, DNS: []string{"10.0.0.1"}, MTU: 1400},
			[]fc{{"dns", "10.0.0.1, 10.0.0.3", "10.0.0.1"}, {"mtu", "1500", "1400"}}},
		{"the confirmed MTU, not the link's", &LinkConfig{Mode: ModeDHCP, MTU: 1300}, link, LinkConfig{Mode: ModeDHCP, MTU: 1400},
			[]fc{{"mtu", "1300", "1400"}}},
		{"MTU 0 keeps it", &LinkConfig{Mode: ModeDHCP, MTU: 1300}, link, LinkConfig{Mode: ModeDHCP}, nil},
		{"the same config", &static, link, static, nil},
		{"down, configured", &static, link, LinkConfig{Mode: static.Mode, Addresses: static.Addresses, Gateway: static.Gateway, DNS: static.DNS, Up: &down},
			[]fc{{"up", "up", "down"}}},
		{"down, never configured: only up", nil, link, LinkConfig{Up: &down}, []fc{{"up", "up", "down"}}},
		{"up again, recorded down only", &LinkConfig{Up: &down}, State{Name: "eth1", MTU: 1500}, LinkConfig{Up: &up},
			[]fc{{"up", "down", "up"}}},
		{"static on a link recorded down only", &LinkConfig{Up: &down}, link, static, []fc{
			{"mode", "", "static"}, {"addresses", "203.0.113.1/24, 2001:db8:1::1/64", "10.0.0.2/24"},
			{"gateway", "203.0.113.2", "10.0.0.1"}, {"dns", "", "10.0.0.1, 10.0.0.3"}, {"up", "down", "up"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var want []change.FieldChange
			for _, f := range tt.want {
				want = append(want, change.FieldChange{Field: f[0], Old: f[1], New: f[2]})
			}
			if diff := cmp.Diff(want, Diff(tt.prev, tt.link, tt.next)); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
		})
	}
}
