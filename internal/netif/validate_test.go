package netif

import (
	"errors"
	"github.com/devmgr/devmgr/internal/fielderr"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/config"
)

func testConfig() config.Config {
	c := config.Default()
	c.AP.Interface = "wlan0"
	c.AP.Address = "192.168.4.1/24"
	c.LAN = []string{"eth1", "eth2"}
	return c
}

var testIfaces = []Interface{
	{Name: "lo", Kind: KindLoopback, Addresses: []string{"127.0.0.1/8", "::1/128"}},
	{Name: "wlan0", Kind: KindWireless, Addresses: []string{"192.168.4.1/24", "fe80::1/64"}},
	{Name: "eth0", Kind: KindEthernet, Addresses: []string{"198.51.100.7/24", "fe80::2/64"}},
	{Name: "eth1", Kind: KindEthernet, Addresses: []string{"203.0.113.1/24", "fe80::3/64"}},
	{Name: "eth2", Kind: KindEthernet, Addresses: []string{"fe80::4/64"}},
	{Name: "eth9", Kind: KindEthernet},
}

func static(addrs []string, gw string, dns []string, mtu int) LinkConfig {
	return LinkConfig{Mode: ModeStatic, Addresses: addrs, Gateway: gw, DNS: dns, MTU: mtu}
}

func TestValidateGood(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	for _, tc := range []struct {
		name string
		lc   LinkConfig
	}{
		{"eth1", LinkConfig{Mode: ModeDHCP}},
		{"eth1", LinkConfig{Mode: ModeDHCP, MTU: 1400}},
		{"eth1", static([]string{"10.0.0.2/24"}, "10.0.0.1", []string{"10.0.0.1"}, 1500)},
		{"eth1", static([]string{"203.0.113.9/24"}, "", nil, 0)}, // its own current subnet
		{"eth1", static([]string{"10.0.0.2/24", "2001:db8::2/64"}, "2001:db8::1", []string{"10.0.0.1", "2001:db8::53"}, 9000)},
		{"eth1", static([]string{"10.0.0.2/31"}, "10.0.0.3", nil, 576)},
		{"eth1", static([]string{"10.0.0.0/31"}, "", nil, 0)},
		{"eth1", static([]string{"10.9.9.9/32"}, "", nil, 0)},
		{"eth2", static([]string{"172.16.5.1/16"}, "172.16.0.1", nil, 0)},
	} {
		if err := Validate(cfg, tc.name, tc.lc, testIfaces); err != nil {
			t.Errorf("Validate(%s, %+v) = %v, want nil", tc.name, tc.lc, err)
		}
	}
}

func TestValidateBad(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	ok := []string{"10.0.0.2/24"}
	for _, tc := range []struct {
		desc, name string
		lc         LinkConfig
		field      string
	}{
		{"empty name", "", LinkConfig{Mode: ModeDHCP}, "name"},
		{"missing interface", "eth7", LinkConfig{Mode: ModeDHCP}, "name"},
		{"not a LAN interface", "eth9", LinkConfig{Mode: ModeDHCP}, "name"},
		{"uplink", "eth0", LinkConfig{Mode: ModeDHCP}, "name"},
		{"no mode", "eth1", LinkConfig{}, "mode"},
		{"bad mode", "eth1", LinkConfig{Mode: "manual"}, "mode"},
		{"mode case", "eth1", LinkConfig{Mode: "DHCP"}, "mode"},
		{"dhcp with address", "eth1", LinkConfig{Mode: ModeDHCP, Addresses: ok}, "addresses"},
		{"dhcp with gateway", "eth1", LinkConfig{Mode: ModeDHCP, Gateway: "10.0.0.1"}, "gateway"},
		{"dhcp with dns", "eth1", LinkConfig{Mode: ModeDHCP, DNS: []string{"1.1.1.1"}}, "dns"},
		{"static without address", "eth1", static(nil, "", nil, 0), "addresses"},
		{"address without prefix", "eth1", static([]string{"10.0.0.2"}, "", nil, 0), "addresses[0]"},
		{"address garbage", "eth1", static([]string{"ten/24"}, "", nil, 0), "addresses[0]"},
		{"prefix too long", "eth1", static([]string{"10.0.0.2/33"}, "", nil, 0), "addresses[0]"},
		{"prefix negative", "eth1", static([]string{"10.0.0.2/-1"}, "", nil, 0), "addresses[0]"},
		{"prefix too short", "eth1", static([]string{"10.0.0.2/4"}, "", nil, 0), "addresses[0]"},
		{"v6 prefix too short", "eth1", static([]string{"2001:db8::2/8"}, "", nil, 0), "addresses[0]"},
		{"network address", "eth1", static([]string{"10.0.0.0/24"}, "", nil, 0), "addresses[0]"},
		{"broadcast address", "eth1", static([]string{"10.0.0.255/24"}, "", nil, 0), "addresses[0]"},
		{"v6 network address", "eth1", static([]string{"2001:db8::/64"}, "", nil, 0), "addresses[0]"},
		{"second address bad", "eth1", static([]string{"10.0.0.2/24", "10.0.1.255/24"}, "", nil, 0), "addresses[1]"},
		{"loopback", "eth1", static([]string{"127.0.0.2/8"}, "", nil, 0), "addresses[0]"},
		{"multicast", "eth1", static([]string{"224.0.0.5/24"}, "", nil, 0), "addresses[0]"},
		{"unspecified", "eth1", static([]string{"0.0.0.0/8"}, "", nil, 0), "addresses[0]"},
		{"link-local v4", "eth1", static([]string{"169.254.1.1/16"}, "", nil, 0), "addresses[0]"},
		{"link-local v6", "eth1", static([]string{"fe80::9/64"}, "", nil, 0), "addresses[0]"},
		{"reserved class E", "eth1", static([]string{"240.0.0.1/8"}, "", nil, 0), "addresses[0]"},
		{"zone", "eth1", static([]string{"fe80::1%eth1/64"}, "", nil, 0), "addresses[0]"},
		{"duplicate", "eth1", static([]string{"10.0.0.2/24", "10.0.0.2/24"}, "", nil, 0), "addresses[1]"},
		{"overlaps AP", "eth1", static([]string{"192.168.4.9/24"}, "", nil, 0), "addresses[0]"},
		{"contains AP", "eth1", static([]string{"192.168.9.9/16"}, "", nil, 0), "addresses[0]"},
		{"overlaps uplink", "eth1", static([]string{"198.51.100.9/24"}, "", nil, 0), "addresses[0]"},
		{"overlaps other LAN", "eth2", static([]string{"203.0.113.7/25"}, "", nil, 0), "addresses[0]"},
		{"too many addresses", "eth1", static(make([]string, 17), "", nil, 0), "addresses"},
		{"gateway garbage", "eth1", static(ok, "router", nil, 0), "gateway"},
		{"gateway CIDR", "eth1", static(ok, "10.0.0.1/24", nil, 0), "gateway"},
		{"gateway outside", "eth1", static(ok, "10.0.1.1", nil, 0), "gateway"},
		{"gateway own address", "eth1", static(ok, "10.0.0.2", nil, 0), "gateway"},
		{"gateway network", "eth1", static(ok, "10.0.0.0", nil, 0), "gateway"},
		{"gateway broadcast", "eth1", static(ok, "10.0.0.255", nil, 0), "gateway"},
		{"v6 gateway for v4 net", "eth1", static(ok, "2001:db8::1", nil, 0), "gateway"},
		{"dns garbage", "eth1", static(ok, "", []string{"dns.example"}, 0), "dns[0]"},
		{"second dns garbage", "eth1", static(ok, "", []string{"10.0.0.1", "10.0.0.1:53"}, 0), "dns[1]"},
		{"dns empty string", "eth1", static(ok, "", []string{""}, 0), "dns[0]"},
		{"dns unspecified", "eth1", static(ok, "", []string{"0.0.0.0"}, 0), "dns[0]"},
		{"too many dns", "eth1", static(ok, "", []string{"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5"}, 0), "dns"},
		{"mtu low", "eth1", static(ok, "", nil, 575), "mtu"},
		{"mtu high", "eth1", static(ok, "", nil, 9001), "mtu"},
		{"mtu negative", "eth1", static(ok, "", nil, -1), "mtu"},
		{"dhcp mtu high", "eth1", LinkConfig{Mode: ModeDHCP, MTU: 65536}, "mtu"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := Validate(cfg, tc.name, tc.lc, testIfaces)
			var fe *fielderr.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Validate = %v, want a *fielderr.Error for %s", err, tc.field)
			}
			if fe.Field != tc.field {
				t.Errorf("field %q (%s), want %q", fe.Field, fe.Message, tc.field)
			}
			if fe.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestValidateProtected(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	for _, lc := range []LinkConfig{{Mode: ModeDHCP}, static([]string{"10.0.0.2/24"}, "", nil, 0), {}} {
		err := Validate(cfg, "wlan0", lc, testIfaces)
		if !errors.Is(err, ErrProtected) {
			t.Errorf("Validate(wlan0, %+v) = %v, want ErrProtected", lc, err)
		}
	}
	if err := ValidateUp(cfg, "wlan0", testIfaces); !errors.Is(err, ErrProtected) {
		t.Errorf("ValidateUp(wlan0) = %v, want ErrProtected", err)
	}
}

// Every bad field is reported at once, in the order of the form.
func TestValidateListsEveryField(t *testing.T) {
	t.Parallel()
	lc := LinkConfig{Mode: ModeStatic, Addresses: []string{"10.0.0.2/24", "ten", "192.168.4.7/24"},
		Gateway: "router", DNS: []string{"1.1.1.1", "x", "0.0.0.0"}, MTU: 10}
	err := Validate(testConfig(), "eth9", lc, testIfaces)
	var es fielderr.List
	if !errors.As(err, &es) {
		t.Fatalf("Validate = %v, want fielderr.List", err)
	}
	var fields []string
	for _, e := range es {
		fields = append(fields, e.Field)
	}
	want := []string{"name", "addresses[1]", "addresses[2]", "gateway", "dns[1]", "dns[2]", "mtu"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	var fe *fielderr.Error
	if !errors.As(err, &fe) || fe.Field != "name" {
		t.Errorf("errors.As finds %v, want the first problem", fe)
	}
	// A gateway outside the interface's subnets is judged only when every
	// address is good.
	lc = static([]string{"10.0.0.2/24"}, "10.9.9.1", nil, 0)
	if err := Validate(testConfig(), "eth1", lc, testIfaces); err == nil || !strings.Contains(err.Error(), "gateway") {
		t.Errorf("Validate = %v, want the gateway outside", err)
	}
}

func TestAddrDiff(t *testing.T) {
	t.Parallel()
	a := AddrState{CIDR: "10.0.0.2/24", Flags: unix.IFA_F_PERMANENT}
	b := AddrState{CIDR: "10.0.1.2/24", Flags: unix.IFA_F_PERMANENT}
	relabelled := a
	relabelled.Label = "eth1:1"
	for _, tc := range []struct {
		name             string
		have, want       []AddrState
		wantDel, wantAdd []AddrState
	}{
		{"equal", []AddrState{a, b}, []AddrState{b, a}, nil, nil},
		{"add", []AddrState{a}, []AddrState{a, b}, nil, []AddrState{b}},
		{"remove", []AddrState{a, b}, []AddrState{b}, []AddrState{a}, nil},
		{"changed label", []AddrState{a}, []AddrState{relabelled}, []AddrState{a}, []AddrState{relabelled}},
	} {
		del, add := addrDiff(tc.have, tc.want)
		if diff := cmp.Diff(tc.wantDel, del); diff != "" {
			t.Errorf("%s: removed (-want +got):\n%s", tc.name, diff)
		}
		if diff := cmp.Diff(tc.wantAdd, add); diff != "" {
			t.Errorf("%s: added (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestRouteDiff(t *testing.T) {
	t.Parallel()
	def := DefaultRoute("10.0.0.1")
	nlDef, err := def.netlink(3)
	if err != nil {
		t.Fatal(err)
	}
	other := Route{Dst: "198.18.0.0/15", Gateway: "10.0.0.1", Protocol: unix.RTPROT_STATIC, Type: unix.RTN_UNICAST}
	nlOther, err := other.netlink(3)
	if err != nil {
		t.Fatal(err)
	}
	del, add := routeDiff([]netlink.Route{*nlDef, *nlOther}, []Route{def})
	if len(del) != 1 || routeState(del[0]).key() != other.key() || len(add) != 0 {
		t.Errorf("routeDiff = %v, %v; want the other route removed", del, add)
	}
	del, add = routeDiff(nil, []Route{other, def})
	if len(del) != 0 || !cmp.Equal(add, []Route{other, def}) {
		t.Errorf("routeDiff from none = %v, %v", del, add)
	}
}
