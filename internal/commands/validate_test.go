package commands

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/fielderr"
	"github.com/devmgr/devmgr/internal/testing/injection"
)

func i64(v int64) *int64 { return &v }

// testEnv knows eth0, eth1 (LAN) and wlan0.
var testEnv = Env{Interface: func(name string, lanOnly bool) error {
	switch {
	case !slices.Contains([]string{"eth0", "eth1", "wlan0"}, name):
		return fmt.Errorf("%s is not an interface of this device", name)
	case lanOnly && name != "eth1":
		return fmt.Errorf("%s is not a LAN interface", name)
	}
	return nil
}}

// typed has a parameter of every type, each used once.
var typed = config.Command{
	ID: "typed", Title: "Typed", Roles: []auth.Role{auth.Operator},
	Argv: []string{"/usr/bin/true", "{mode}", "--count={count}", "{host}", "{addr}", "{net}", "{iface}", "{lan}", "--name={text}", "{delta}"},
	// The corpus's parameters, mode with a default, and an int that may
	// be negative.
	Params: slices.Concat(
		config.Params{{Name: "mode", Type: config.ParamEnum, Values: []string{"fast", "slow"}, Default: "fast"}},
		injection.Params[1:],
		config.Params{{Name: "delta", Type: config.ParamInt, Min: i64(-5), Max: i64(5)}}),
}

// good are valid values of typed's parameters.
func good() map[string]string {
	return map[string]string{"count": "3", "host": "example.com", "addr": "2001:DB8::1", "net": "192.0.2.0/24",
		"iface": "wlan0", "lan": "eth1", "text": "abc", "delta": "-2"}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	argv, err := Validate(typed, good(), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/bin/true", "fast", "--count=3", "example.com", "2001:db8::1", "192.0.2.0/24", "wlan0", "eth1", "--name=abc", "-2"}
	if diff := cmp.Diff(want, argv); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
	if _, vals, _ := resolve(typed, good(), testEnv); vals["mode"] != "fast" || vals["addr"] != "2001:db8::1" {
		t.Errorf("recorded values %v: want the default and the canonical address", vals)
	}
}

// Every problem at once, in the order of the parameters, then the
// unknown ones.
func TestValidateAllProblems(t *testing.T) {
	t.Parallel()
	params := map[string]string{
		"mode": "medium", "count": "11", "host": "-x", "addr": "1.2.3.4.5", "net": "10.0.0.0/33",
		"iface": "eth9", "lan": "eth0", "text": "", "zone": "x", "$(id)": "y",
	}
	_, err := Validate(typed, params, testEnv)
	var list fielderr.List
	if !errors.As(err, &list) {
		t.Fatalf("error %v, want a fielderr.List", err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Error())
	}
	want := []string{
		`params.mode: "medium" is not one of fast, slow`,
		"params.count: 11 is outside 1..10",
		`params.host: "-x" must not start with -`,
		`params.addr: "1.2.3.4.5" is not an IPv4 or IPv6 address`,
		`params.net: "10.0.0.0/33" is not an address with a prefix length, such as 192.168.4.0/24`,
		"params.iface: eth9 is not an interface of this device",
		"params.lan: eth0 is not a LAN interface",
		"params.text: must not be empty",
		"params.delta: is required",
		`params: "$(id)" is not a parameter of typed`,
		"params.zone: is not a parameter of typed",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	var fe *fielderr.Error
	if !errors.As(err, &fe) || fe.Field != "params.mode" {
		t.Errorf("errors.As finds %v first, want params.mode", fe)
	}
}

func TestValidateInterfaceWithoutEnv(t *testing.T) {
	t.Parallel()
	_, err := Validate(typed, good(), Env{})
	if err == nil || err.Error() != "params.iface: cannot be checked: the device's interfaces are not known here; "+
		"params.lan: cannot be checked: the device's interfaces are not known here" {
		t.Errorf("err = %v", err)
	}
}

func TestPermitted(t *testing.T) {
	t.Parallel()
	cat := config.Default().Catalog()
	ids := func(r auth.Role) []string {
		var out []string
		for _, c := range Permitted(cat, r) {
			out = append(out, c.ID)
		}
		return out
	}
	if got := ids(auth.Viewer); !cmp.Equal(got, []string{"uptime", "disk-usage", "memory", "ip-addr", "ip-route"}) {
		t.Errorf("viewer may run %v", got)
	}
	if got := ids(auth.Admin); len(got) != len(cat) {
		t.Errorf("admin may run %v", got)
	}
	if got := ids(auth.Role("root")); got != nil {
		t.Errorf("an unknown role may run %v", got)
	}
	if _, err := Find(cat, "reboot"); err != nil {
		t.Error(err)
	}
	if _, err := Find(cat, "rm -rf"); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("Find of an unknown id: %v", err)
	}
}
