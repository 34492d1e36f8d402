package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/auth"
)

func problemStrings(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v, want *Problems", err)
	}
	var got []string
	for _, p := range ps.List {
		got = append(got, p.String())
	}
	return got
}

func TestDefaultCatalogIsValid(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Commands = DefaultCommands(c.AP.Interface)
	if err := c.Validate(); err != nil {
		t.Fatalf("the default catalog: %v", err)
	}
	if got := Default().Catalog(); !cmp.Equal(got, c.Catalog()) {
		t.Errorf("a config without commands does not get the default catalog")
	}
	for _, cmd := range Default().Catalog() {
		if cmd.Timeout == 0 || cmd.OutputLimit != DefaultOutputLimit {
			t.Errorf("%s: timeout %v, output_limit %v: defaults not filled in", cmd.ID, cmd.Timeout, cmd.OutputLimit)
		}
	}
}

// The default catalog's programs are all on this (Debian) machine; one
// that is not is named by its path.
func TestDefaultCatalogPrograms(t *testing.T) {
	t.Parallel()
	if err := Default().CheckPrograms(); err != nil {
		t.Errorf("programs of the default catalog on this machine:\n%v", err)
	}
	c := Default()
	c.Commands = append(DefaultCommands("wlan0"), Command{ID: "gone", Title: "Gone", Argv: []string{"/usr/bin/devmgr-no-such-program"}, Roles: []auth.Role{auth.Admin}})
	got := problemStrings(t, c.CheckPrograms())
	want := []string{"commands[13].argv[0]: /usr/bin/devmgr-no-such-program does not exist: is its package installed?"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// deploy/devmgr.example.yaml shows every default: its commands are the
// default catalog, and the rest is Default() but for the example
// passphrase.
func TestExampleConfigShowsDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(filepath.Join("..", "..", "deploy", "devmgr.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.AP.Passphrase = c.AP.Passphrase
	want.Commands = DefaultCommands(want.AP.Interface)
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("example config (-defaults +example):\n%s", diff)
	}
}

func TestCheckPrograms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "exe")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := func(id, prog string) Command {
		return Command{ID: id, Title: id, Argv: []string{prog}, Roles: []auth.Role{auth.Viewer}}
	}
	c := Default()
	c.Commands = []Command{cmd("a", exe), cmd("b", plain), cmd("c", dir), cmd("d", filepath.Join(dir, "missing"))}
	want := []string{
		"commands[1].argv[0]: " + plain + " is not executable (mode 0644)",
		"commands[2].argv[0]: " + dir + " is not a regular file (d---------)",
		"commands[3].argv[0]: " + filepath.Join(dir, "missing") + " does not exist: is its package installed?",
	}
	if diff := cmp.Diff(want, problemStrings(t, c.CheckPrograms())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseCommands(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`
commands:
  - id: ping
    title: Ping
    argv: [/usr/bin/ping, -c, "{count}", --, "{host}"]
    params:
      host: {type: hostname}
      count: {type: int, min: 1, max: 10, default: "4"}
    roles: [operator, admin]
    timeout: 1m
    output_limit: 64KiB
command_history: {keep_runs: 500, max_size: 1GiB}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Command{{
		ID: "ping", Title: "Ping", Argv: []string{"/usr/bin/ping", "-c", "{count}", "--", "{host}"},
		Params:  Params{{Name: "host", Type: ParamHostname}, {Name: "count", Type: ParamInt, Min: ptr(int64(1)), Max: ptr(int64(10)), Default: "4"}},
		Roles:   []auth.Role{auth.Operator, auth.Admin},
		Timeout: time.Minute, OutputLimit: 64 << 10,
	}}
	if diff := cmp.Diff(want, c.Catalog()); diff != "" {
		t.Errorf("catalog (-want +got):\n%s", diff)
	}
	if c.CommandHistory != (CommandHistory{KeepRuns: 500, MaxSize: 1 << 30}) {
		t.Errorf("command_history = %+v", c.CommandHistory)
	}

	// Written and read back, the catalog keeps its parameters' order.
	b, err := Marshal(c, "")
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if diff := cmp.Diff(c, back); diff != "" {
		t.Errorf("after Marshal and Parse (-want +got):\n%s\n%s", diff, b)
	}

	none, err := Parse([]byte("commands: []\n"))
	if err != nil || len(none.Catalog()) != 0 {
		t.Errorf("commands: [] gives %d commands, %v; want none", len(none.Catalog()), err)
	}
}

// Each bad catalog gives exactly these problems, each at its YAML path.
func TestCommandProblems(t *testing.T) {
	t.Parallel()
	const ok = "    title: T\n    roles: [viewer]\n"
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"program not absolute", "commands:\n  - id: a\n    argv: [uptime]\n" + ok,
			[]string{`commands[0].argv[0]: "uptime" is not an absolute, clean program path such as /usr/bin/uptime`}},
		{"program path not clean", "commands:\n  - id: a\n    argv: [/usr/bin/../bin/sh]\n" + ok,
			[]string{`commands[0].argv[0]: "/usr/bin/../bin/sh" is not an absolute, clean program path such as /usr/bin/uptime`}},
		{"program is a parameter", "commands:\n  - id: a\n    argv: [\"{p}\"]\n    params: {p: {type: hostname}}\n" + ok,
			[]string{`commands[0].argv[0]: "{p}": the program path cannot be a parameter`,
				"commands[0].params.p: is used in no argument of argv; write {p} where it goes"}},
		{"no argv", "commands:\n  - id: a\n" + ok, []string{"commands[0].argv: must name the program, as an absolute path"}},
		{"placeholder without parameter", "commands:\n  - id: a\n    argv: [/bin/ping, \"{host}\"]\n" + ok,
			[]string{"commands[0].argv[1]: {host} names no parameter in params"}},
		{"parameter used nowhere", "commands:\n  - id: a\n    argv: [/bin/ping]\n    params: {host: {type: hostname}}\n" + ok,
			[]string{"commands[0].params.host: is used in no argument of argv; write {host} where it goes"}},
		{"spliced parameter", "commands:\n  - id: a\n    argv: [/bin/ping, \"x{host}\", \"--to={host}.lan\"]\n    params: {host: {type: hostname}}\n" + ok,
			[]string{`commands[0].argv[1]: "x{host}": a parameter must be a whole argument, {name} or --flag={name}, never part of a longer string`,
				`commands[0].argv[2]: "--to={host}.lan": a parameter must be a whole argument, {name} or --flag={name}, never part of a longer string`,
				"commands[0].params.host: is used in no argument of argv; write {host} where it goes"}},
		{"flag placeholder is fine", "commands:\n  - id: a\n    argv: [/bin/journalctl, \"--lines={n}\", \"-n={n}\"]\n    params: {n: {type: int, min: 1, max: 9}}\n" + ok, nil},
		{"int without bounds", "commands:\n  - id: a\n    argv: [/bin/x, \"{n}\"]\n    params: {n: {type: int, min: 1}}\n" + ok,
			[]string{"commands[0].params.n: type int needs min and max"}},
		{"int min above max", "commands:\n  - id: a\n    argv: [/bin/x, \"{n}\"]\n    params: {n: {type: int, min: 5, max: 1}}\n" + ok,
			[]string{"commands[0].params.n.max: 1 is less than min 5"}},
		{"enum without values", "commands:\n  - id: a\n    argv: [/bin/x, \"{u}\"]\n    params: {u: {type: enum}}\n" + ok,
			[]string{"commands[0].params.u.values: type enum needs values, the choices"}},
		{"enum value with a dash", "commands:\n  - id: a\n    argv: [/bin/x, \"{u}\"]\n    params: {u: {type: enum, values: [a, --all, a]}}\n" + ok,
			[]string{`commands[0].params.u.values[1]: "--all" must not start with -`, `commands[0].params.u.values[2]: "a" is listed twice`}},
		{"string without bounds", "commands:\n  - id: a\n    argv: [/bin/x, \"{s}\"]\n    params: {s: {type: string}}\n" + ok,
			[]string{"commands[0].params.s.pattern: type string needs a pattern, a regular expression anchored with ^ and $",
				"commands[0].params.s.max_length: type string needs max_length, 1..4096 (is 0)"}},
		{"string pattern not anchored", "commands:\n  - id: a\n    argv: [/bin/x, \"{s}\"]\n    params: {s: {type: string, pattern: \"[a-z]+\", max_length: 8}}\n" + ok,
			[]string{`commands[0].params.s.pattern: "[a-z]+" must be anchored: start with ^ and end with $`}},
		{"string pattern broken", "commands:\n  - id: a\n    argv: [/bin/x, \"{s}\"]\n    params: {s: {type: string, pattern: \"^[a-z$\", max_length: 8}}\n" + ok,
			[]string{"commands[0].params.s.pattern: \"^[a-z$\" is not a regular expression: error parsing regexp: missing closing ]: `[a-z$`"}},
		{"bound of another type", "commands:\n  - id: a\n    argv: [/bin/x, \"{h}\"]\n    params: {h: {type: hostname, min: 1, lan_only: true}}\n" + ok,
			[]string{"commands[0].params.h.min: does not apply to type hostname", "commands[0].params.h.lan_only: does not apply to type hostname"}},
		{"unknown type", "commands:\n  - id: a\n    argv: [/bin/x, \"{h}\"]\n    params: {h: {type: url}}\n" + ok,
			[]string{`commands[0].params.h.type: "url" is not one of enum, int, hostname, ip, cidr, interface, string`}},
		{"default its type refuses", "commands:\n  - id: a\n    argv: [/bin/x, \"{n}\"]\n    params: {n: {type: int, min: 1, max: 9, default: \"10\"}}\n" + ok,
			[]string{"commands[0].params.n.default: 10 is outside 1..9"}},
		{"bad parameter name", "commands:\n  - id: a\n    argv: [/bin/x]\n    params: {Host: {type: hostname}}\n" + ok,
			[]string{`commands[0].params.Host: "Host" is not a parameter name (a lowercase letter, then up to 31 of a-z, 0-9, _)`}},
		{"parameter twice", "commands:\n  - id: a\n    argv: [/bin/x, \"{h}\"]\n    params:\n      h: {type: hostname}\n      h: {type: ip}\n" + ok,
			[]string{"commands[0].params.h: is defined twice (line 6)"}},
		{"unknown parameter key", "commands:\n  - id: a\n    argv: [/bin/x, \"{h}\"]\n    params: {h: {type: hostname, regex: x}}\n" + ok,
			[]string{`commands[0].params.h.regex: unknown key "regex" (line 4)`}},
		{"role that does not exist", "commands:\n  - id: a\n    title: T\n    argv: [/bin/x]\n    roles: [viewer, root, viewer]\n",
			[]string{`commands[0].roles[1]: "root" is not one of admin, operator, viewer`, "commands[0].roles[2]: viewer is listed twice"}},
		{"no roles", "commands:\n  - id: a\n    title: T\n    argv: [/bin/x]\n",
			[]string{"commands[0].roles: must name at least one role (admin, operator, viewer)"}},
		{"duplicate id", "commands:\n  - id: a\n    argv: [/bin/x]\n" + ok + "  - id: a\n    argv: [/bin/y]\n" + ok,
			[]string{`commands[1].id: "a" is already commands[0].id`}},
		{"bad id", "commands:\n  - id: Disk_Usage\n    argv: [/bin/x]\n" + ok + "  - id: -a\n    argv: [/bin/x]\n" + ok + "  - argv: [/bin/x]\n" + ok,
			[]string{`commands[0].id: "Disk_Usage" is not a lowercase slug of up to 40 characters (a-z, 0-9 and inner -, such as disk-usage)`,
				`commands[1].id: "-a" is not a lowercase slug of up to 40 characters (a-z, 0-9 and inner -, such as disk-usage)`,
				"commands[2].id: must not be empty"}},
		{"no title", "commands:\n  - id: a\n    argv: [/bin/x]\n    roles: [admin]\n", []string{"commands[0].title: must not be empty"}},
		{"timeout too long", "commands:\n  - id: a\n    argv: [/bin/x]\n    timeout: 11m\n" + ok, []string{"commands[0].timeout: 11m0s is outside 1s..10m0s"}},
		{"output limit", "commands:\n  - id: a\n    argv: [/bin/x]\n    output_limit: 1GiB\n" + ok, []string{"commands[0].output_limit: 1GiB is outside 1KiB..16MiB"}},
		{"output limit word", "commands:\n  - id: a\n    argv: [/bin/x]\n    output_limit: lots\n" + ok,
			[]string{`commands[0].output_limit: "lots" is not a size such as 1MiB, 512KiB or a number of bytes (line 4)`}},
		{"argument with a control character", "commands:\n  - id: a\n    argv: [/bin/x, \"a\\nb\"]\n" + ok,
			[]string{"commands[0].argv[1]: contains a control character (U+000A)"}},
		{"history", "command_history: {keep_runs: 5, max_size: 1MiB}\n",
			[]string{"command_history.keep_runs: 5 is outside 100..1000000", "command_history.max_size: 1MiB is outside 16MiB..64GiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.doc))
			if diff := cmp.Diff(tt.want, problemStrings(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParamCheck(t *testing.T) {
	t.Parallel()
	n := Param{Name: "n", Type: ParamInt, Min: ptr(int64(-5)), Max: ptr(int64(5))}
	pos := Param{Name: "n", Type: ParamInt, Min: ptr(int64(0)), Max: ptr(int64(5))}
	tests := []struct {
		p       Param
		in, out string
		err     string
	}{
		{n, "-3", "-3", ""},
		{n, "-0", "", `"-0" is not a whole number written in plain digits`},
		{n, "+3", "", `"+3" is not a whole number written in plain digits`},
		{n, "-6", "", "-6 is outside -5..5"},
		{pos, "-1", "", `"-1" must not start with -`},
		{pos, "05", "", `"05" is not a whole number written in plain digits`},
		{Param{Type: ParamIP}, "2001:DB8::1", "2001:db8::1", ""},
		{Param{Type: ParamIP}, "fe80::1%eth0", "", `"fe80::1%eth0" is not an IPv4 or IPv6 address`},
		{Param{Type: ParamCIDR}, "10.0.0.1/8", "10.0.0.1/8", ""},
		{Param{Type: ParamHostname}, "example.com.", "example.com.", ""},
		{Param{Type: ParamHostname}, "10.1.2.3", "", `"10.1.2.3" is a number, not a host name`},
		{Param{Type: ParamInterface}, "eth0.100", "eth0.100", ""},
		{Param{Type: ParamString, Pattern: "^[a-z]+$", MaxLength: 4}, "abcde", "", "is 5 bytes long; at most 4"},
		{Param{Type: ParamString, Pattern: "^a|b$", MaxLength: 9}, "ax", "", `"ax" does not match ^a|b$`},
		{Param{Type: ParamEnum, Values: []string{"a", "b"}}, "c", "", `"c" is not one of a, b`},
	}
	for _, tt := range tests {
		got, err := tt.p.Check(tt.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.out || gotErr != tt.err {
			t.Errorf("%s Check(%q) = %q, %q; want %q, %q", tt.p.Type, tt.in, got, gotErr, tt.out, tt.err)
		}
	}
}

func TestPlaceholder(t *testing.T) {
	t.Parallel()
	for arg, want := range map[string][2]string{
		"{host}":                 {"", "host"},
		"--count={n}":            {"--count=", "n"},
		"-c={n}":                 {"-c=", "n"},
		"x{host}":                {},
		"{host}x":                {},
		"--a b={host}":           {},
		"{Host}":                 {},
		"{{host}}":               {},
		"--x={a}{b}":             {},
		strings.Repeat("{a}", 2): {},
	} {
		p, n, ok := Placeholder(arg)
		if [2]string{p, n} != want || ok != (want[1] != "") {
			t.Errorf("Placeholder(%q) = %q, %q, %v; want %q", arg, p, n, ok, want)
		}
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Size{"0": 0, "1024": 1 << 10, "1KiB": 1 << 10, "16MiB": 16 << 20, "2GiB": 2 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "1MB", "-1", "1.5MiB", "MiB", "99999999999GiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
	if s := Size(1536).String(); s != "1536" {
		t.Errorf("Size(1536) = %s", s)
	}
}
