package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/device"
)

// Command is one entry of the command catalog (config commands): a
// program the agent runs as argv, never through a shell, for the roles
// listed.
type Command struct {
	// ID names the command in the API and the CLI: a lowercase slug.
	ID          string `yaml:"id"`
	Title       string `yaml:"title"`
	Description string `yaml:"description,omitempty"`
	// Argv is the absolute program path, then its arguments. A parameter
	// is a whole argument, "{name}" or "--flag={name}", never part of a
	// longer string.
	Argv   []string `yaml:"argv"`
	Params Params   `yaml:"params,omitempty"`
	// Timeout ends the run (0: DefaultCommandTimeout; at most
	// MaxCommandTimeout).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// Roles may run the command; a role not listed may not, whatever its
	// rank.
	Roles []auth.Role `yaml:"roles"`
	// Confirm makes the page ask before running.
	Confirm bool `yaml:"confirm,omitempty"`
	// OutputLimit is how much output a run keeps; the rest is dropped and
	// the run marked truncated (0: DefaultOutputLimit).
	OutputLimit Size `yaml:"output_limit,omitempty"`
}

// Param is a typed parameter of a command. Which bounds apply depends on
// the type: Values for enum, Min and Max for int, Pattern and MaxLength for
// string, LANOnly for interface.
type Param struct {
	Name    string `yaml:"-"` // its key in params
	Type    string `yaml:"type"`
	Title   string `yaml:"title,omitempty"` // the form's label; empty: Name
	Default string `yaml:"default,omitempty"`
	// Values are an enum's choices.
	Values []string `yaml:"values,omitempty"`
	// Min and Max bound an int; a negative value is accepted only when
	// Min is negative.
	Min *int64 `yaml:"min,omitempty"`
	Max *int64 `yaml:"max,omitempty"`
	// Pattern is a string's regular expression (RE2), anchored: ^...$.
	Pattern   string `yaml:"pattern,omitempty"`
	MaxLength int    `yaml:"max_length,omitempty"`
	// LANOnly accepts only the LAN interfaces (config lan).
	LANOnly bool `yaml:"lan_only,omitempty"`
}

// Label is the parameter's title, or else its name.
func (p Param) Label() string {
	if p.Title != "" {
		return p.Title
	}
	return p.Name
}

// Parameter types.
const (
	ParamEnum      = "enum"
	ParamInt       = "int"
	ParamHostname  = "hostname"
	ParamIP        = "ip"
	ParamCIDR      = "cidr"
	ParamInterface = "interface"
	ParamString    = "string"
)

// ParamTypes lists the parameter types.
var ParamTypes = []string{ParamEnum, ParamInt, ParamHostname, ParamIP, ParamCIDR, ParamInterface, ParamString}

// Limits of the catalog.
const (
	DefaultCommandTimeout = 30 * time.Second
	MaxCommandTimeout     = 10 * time.Minute
	DefaultOutputLimit    = Size(1 << 20)
	MinOutputLimit        = Size(1 << 10)
	MaxOutputLimit        = Size(16 << 20)
	MaxStringLength       = 4096 // a string parameter's max_length
	maxCommands           = 500
	maxArgs               = 64
	maxParams             = 16
	maxEnumValues         = 100
	maxEnumValue          = 128
	maxTitle              = 80
	maxDescription        = 1000
)

// CommandHistory configures the agent's history of command runs.
type CommandHistory struct {
	// KeepRuns is how many runs the history keeps, the newest.
	KeepRuns int `yaml:"keep_runs"`
	// MaxSize caps the output the history keeps, all runs together; the
	// oldest runs go first.
	MaxSize Size `yaml:"max_size"`
}

// Catalog is the command catalog with every default filled in: the
// config's commands, or DefaultCommands when the config has none (an
// explicit empty list, commands: [], offers no command).
func (c Config) Catalog() []Command {
	cmds := c.Commands
	if cmds == nil {
		cmds = DefaultCommands(c.AP.Interface)
	}
	out := make([]Command, len(cmds))
	for i, cmd := range cmds {
		if cmd.Timeout == 0 {
			cmd.Timeout = DefaultCommandTimeout
		}
		if cmd.OutputLimit == 0 {
			cmd.OutputLimit = DefaultOutputLimit
		}
		out[i] = cmd
	}
	return out
}

// DefaultCommands is the catalog used when the config has none. Program
// paths are Debian's and Ubuntu's with merged /usr (/bin and /sbin are
// links into /usr), where every program is found under /usr.
func DefaultCommands(apInterface string) []Command {
	all := []auth.Role{auth.Viewer, auth.Operator, auth.Admin}
	ops := []auth.Role{auth.Operator, auth.Admin}
	admin := []auth.Role{auth.Admin}
	units := []string{device.UnitHostapd, device.UnitDnsmasq, device.UnitAgent, device.UnitWeb}
	unit := Param{Name: "unit", Type: ParamEnum, Title: "Service", Values: units, Default: device.UnitHostapd}
	lines := Param{Name: "lines", Type: ParamInt, Title: "Lines", Min: ptr(int64(10)), Max: ptr(int64(500)), Default: "100"}
	return []Command{
		{ID: "uptime", Title: "Uptime", Description: "How long the device has run, and its load.",
			Argv: []string{"/usr/bin/uptime"}, Roles: all},
		{ID: "disk-usage", Title: "Disk usage", Description: "Free and used space of each mounted file system.",
			Argv: []string{"/usr/bin/df", "-h"}, Roles: all},
		{ID: "memory", Title: "Memory", Description: "Free and used memory and swap.",
			Argv: []string{"/usr/bin/free", "-h"}, Roles: all},
		{ID: "ip-addr", Title: "Addresses", Description: "Every interface with its addresses (ip addr).",
			Argv: []string{"/usr/bin/ip", "addr", "show"}, Roles: all},
		{ID: "ip-route", Title: "Routes", Description: "The routing table (ip route).",
			Argv: []string{"/usr/bin/ip", "route", "show"}, Roles: all},
		{ID: "journal", Title: "Service log", Description: "The latest lines a service logged.",
			Argv:   []string{"/usr/bin/journalctl", "--no-pager", "--output=short-iso", "--unit={unit}", "--lines={lines}"},
			Params: Params{unit, lines}, Roles: ops},
		{ID: "service-status", Title: "Service status", Description: "Whether a service runs, since when, and its last lines.",
			Argv:   []string{"/usr/bin/systemctl", "--no-pager", "--full", "status", "{unit}"},
			Params: Params{unit}, Roles: ops},
		{ID: "restart-service", Title: "Restart a service", Description: "Restarts the access point (hostapd) or DHCP and DNS (dnsmasq); WiFi clients reconnect.",
			Argv:   []string{"/usr/bin/systemctl", "restart", "{unit}"},
			Params: Params{{Name: "unit", Type: ParamEnum, Title: "Service", Values: units[:2], Default: device.UnitHostapd}},
			Roles:  admin, Confirm: true, Timeout: 2 * time.Minute},
		{ID: "stations", Title: "WiFi stations", Description: "The clients associated with the access point (iw station dump).",
			Argv: []string{"/usr/sbin/iw", "dev", apInterface, "station", "dump"}, Roles: ops},
		{ID: "listening", Title: "Listening sockets", Description: "TCP and UDP sockets that accept connections, with their programs (ss).",
			Argv: []string{"/usr/bin/ss", "-ltnup"}, Roles: ops},
		{ID: "kernel-log", Title: "Kernel log", Description: "The latest lines of the kernel log.",
			Argv:   []string{"/usr/bin/journalctl", "--no-pager", "--output=short-iso", "--dmesg", "--lines={lines}"},
			Params: Params{lines}, Roles: ops},
		{ID: "pending-updates", Title: "Pending updates", Description: "Packages with a newer version in the package lists (apt list --upgradable).",
			Argv: []string{"/usr/bin/apt", "list", "--upgradable"}, Roles: ops, Timeout: 2 * time.Minute},
		{ID: "reboot", Title: "Reboot", Description: "Restarts the device; the console is away for a minute or two.",
			Argv: []string{"/usr/bin/systemctl", "reboot"}, Roles: admin, Confirm: true},
	}
}

func ptr[T any](v T) *T { return &v }

// placeholderRE is a parameter argument: {name} or --flag={name}.
var placeholderRE = regexp.MustCompile(`^(-{1,2}[A-Za-z0-9][A-Za-z0-9_.-]*=)?\{([a-z][a-z0-9_]{0,31})\}$`)

// paramNameRE is a parameter's name.
var paramNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// commandIDRE is a command's id: a lowercase slug.
var commandIDRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Placeholder splits an argument that is a parameter: "{host}" is ("",
// "host"), "--count={n}" is ("--count=", "n"). ok is false for any other
// argument.
func Placeholder(arg string) (prefix, name string, ok bool) {
	m := placeholderRE.FindStringSubmatch(arg)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// CheckPrograms checks on this machine that the program of every command
// in the catalog exists and is an executable file, and returns a
// *Problems naming each that is not, or nil. It is apart from Validate: a
// config is valid wherever it is read, and its commands run only where
// their programs are; devmgr config check runs both.
func (c Config) CheckPrograms() error {
	var ps Problems
	note := ""
	if c.Commands == nil {
		note = " (a command of the default catalog, which applies because the config has no commands)"
	}
	for i, cmd := range c.Catalog() {
		if len(cmd.Argv) == 0 || !filepath.IsAbs(cmd.Argv[0]) {
			continue // Validate says so
		}
		path, prog := fmt.Sprintf("commands[%d].argv[0]", i), cmd.Argv[0]
		st, err := os.Stat(prog)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			ps.add(path, "%s does not exist: is its package installed?%s", prog, note)
		case err != nil:
			ps.add(path, "%s cannot be checked: %v%s", prog, err, note)
		case !st.Mode().IsRegular():
			ps.add(path, "%s is not a regular file (%s)%s", prog, st.Mode().Type(), note)
		case st.Mode().Perm()&0o111 == 0:
			ps.add(path, "%s is not executable (mode %04o)%s", prog, st.Mode().Perm(), note)
		}
	}
	if len(ps.List) > 0 {
		return &ps
	}
	return nil
}

func (c Config) validateCommands(ps *Problems) {
	h := c.CommandHistory
	if h.KeepRuns < 100 || h.KeepRuns > 1_000_000 {
		ps.add("command_history.keep_runs", "%d is outside 100..1000000", h.KeepRuns)
	}
	if h.MaxSize < MaxOutputLimit || h.MaxSize > 64<<30 {
		ps.add("command_history.max_size", "%s is outside %s..64GiB", h.MaxSize, MaxOutputLimit)
	}
	if c.Commands == nil {
		return // the default catalog, checked by its tests
	}
	if len(c.Commands) > maxCommands {
		ps.add("commands", "has %d commands; at most %d", len(c.Commands), maxCommands)
		return
	}
	ids := map[string]int{}
	for i, cmd := range c.Commands {
		path := fmt.Sprintf("commands[%d]", i)
		if j, ok := ids[cmd.ID]; ok && cmd.ID != "" {
			ps.add(path+".id", "%q is already commands[%d].id", cmd.ID, j)
		} else {
			ids[cmd.ID] = i
		}
		cmd.validate(path, ps)
	}
}

func (cmd Command) validate(path string, ps *Problems) {
	switch {
	case cmd.ID == "":
		ps.add(path+".id", "must not be empty")
	case len(cmd.ID) > 40 || !commandIDRE.MatchString(cmd.ID):
		ps.add(path+".id", "%q is not a lowercase slug of up to 40 characters (a-z, 0-9 and inner -, such as disk-usage)", clipValue(cmd.ID))
	}
	checkText(ps, path+".title", cmd.Title, 1, maxTitle)
	checkText(ps, path+".description", cmd.Description, 0, maxDescription)
	if t := cmd.Timeout; t != 0 && (t < time.Second || t > MaxCommandTimeout) {
		ps.add(path+".timeout", "%s is outside 1s..%s", t, MaxCommandTimeout)
	}
	if l := cmd.OutputLimit; l != 0 && (l < MinOutputLimit || l > MaxOutputLimit) {
		ps.add(path+".output_limit", "%s is outside %s..%s", l, MinOutputLimit, MaxOutputLimit)
	}
	if len(cmd.Roles) == 0 {
		ps.add(path+".roles", "must name at least one role (admin, operator, viewer)")
	}
	seenRole := map[auth.Role]bool{}
	for i, r := range cmd.Roles {
		rp := fmt.Sprintf("%s.roles[%d]", path, i)
		switch {
		case !r.Valid():
			ps.add(rp, "%q is not one of admin, operator, viewer", clipValue(string(r)))
		case seenRole[r]:
			ps.add(rp, "%s is listed twice", r)
		}
		seenRole[r] = true
	}
	used := cmd.validateArgv(path, ps)
	if len(cmd.Params) > maxParams {
		ps.add(path+".params", "has %d parameters; at most %d", len(cmd.Params), maxParams)
	}
	for _, p := range cmd.Params {
		pp := path + ".params." + p.Name
		if !paramNameRE.MatchString(p.Name) {
			ps.add(pp, "%q is not a parameter name (a lowercase letter, then up to 31 of a-z, 0-9, _)", clipValue(p.Name))
			continue
		}
		p.validate(pp, ps)
		if !used[p.Name] {
			ps.add(pp, "is used in no argument of argv; write {%s} where it goes", p.Name)
		}
	}
}

// validateArgv checks argv and returns the parameters it uses.
func (cmd Command) validateArgv(path string, ps *Problems) map[string]bool {
	used := map[string]bool{}
	if len(cmd.Argv) == 0 {
		ps.add(path+".argv", "must name the program, as an absolute path")
		return used
	}
	if len(cmd.Argv) > maxArgs {
		ps.add(path+".argv", "has %d arguments; at most %d", len(cmd.Argv), maxArgs)
		return used
	}
	declared := map[string]bool{}
	for _, p := range cmd.Params {
		declared[p.Name] = true
	}
	for i, arg := range cmd.Argv {
		ap := fmt.Sprintf("%s.argv[%d]", path, i)
		if err := checkPrintable(arg, 4096); err != nil {
			ps.add(ap, "%v", err)
			continue
		}
		if i == 0 {
			switch {
			case strings.ContainsAny(arg, "{}"):
				ps.add(ap, "%q: the program path cannot be a parameter", clipValue(arg))
			case !filepath.IsAbs(arg) || filepath.Clean(arg) != arg:
				ps.add(ap, "%q is not an absolute, clean program path such as /usr/bin/uptime", clipValue(arg))
			}
			continue
		}
		if _, name, ok := Placeholder(arg); ok {
			if !declared[name] {
				ps.add(ap, "{%s} names no parameter in params", name)
			}
			used[name] = true
			continue
		}
		if strings.ContainsAny(arg, "{}") {
			ps.add(ap, "%q: a parameter must be a whole argument, {name} or --flag={name}, never part of a longer string", clipValue(arg))
		}
	}
	return used
}

func (p Param) validate(path string, ps *Problems) {
	before := len(ps.List)
	checkText(ps, path+".title", p.Title, 0, maxTitle)
	// Which bounds a type takes; any other bound set is a mistake.
	allowed := map[string]bool{}
	switch p.Type {
	case ParamEnum:
		allowed["values"] = true
		if len(p.Values) == 0 {
			ps.add(path+".values", "type enum needs values, the choices")
		} else if len(p.Values) > maxEnumValues {
			ps.add(path+".values", "has %d values; at most %d", len(p.Values), maxEnumValues)
		}
		seen := map[string]bool{}
		for i, v := range p.Values {
			vp := fmt.Sprintf("%s.values[%d]", path, i)
			if err := checkValueText(v, maxEnumValue); err != nil {
				ps.add(vp, "%v", err)
			} else if seen[v] {
				ps.add(vp, "%q is listed twice", v)
			}
			seen[v] = true
		}
	case ParamInt:
		allowed["min"], allowed["max"] = true, true
		switch {
		case p.Min == nil || p.Max == nil:
			ps.add(path, "type int needs min and max")
		case *p.Min > *p.Max:
			ps.add(path+".max", "%d is less than min %d", *p.Max, *p.Min)
		}
	case ParamString:
		allowed["pattern"], allowed["max_length"] = true, true
		if p.Pattern == "" {
			ps.add(path+".pattern", "type string needs a pattern, a regular expression anchored with ^ and $")
		} else if !strings.HasPrefix(p.Pattern, "^") || !strings.HasSuffix(p.Pattern, "$") {
			ps.add(path+".pattern", "%q must be anchored: start with ^ and end with $", clipValue(p.Pattern))
		} else if _, err := regexp.Compile(p.Pattern); err != nil {
			ps.add(path+".pattern", "%q is not a regular expression: %v", clipValue(p.Pattern), err)
		}
		if p.MaxLength < 1 || p.MaxLength > MaxStringLength {
			ps.add(path+".max_length", "type string needs max_length, 1..%d (is %d)", MaxStringLength, p.MaxLength)
		}
	case ParamInterface:
		allowed["lan_only"] = true
	case ParamHostname, ParamIP, ParamCIDR:
	default:
		ps.add(path+".type", "%q is not one of %s", clipValue(p.Type), strings.Join(ParamTypes, ", "))
		return
	}
	for _, b := range []struct {
		key string
		set bool
	}{{"values", p.Values != nil}, {"min", p.Min != nil}, {"max", p.Max != nil}, {"pattern", p.Pattern != ""},
		{"max_length", p.MaxLength != 0}, {"lan_only", p.LANOnly}} {
		if b.set && !allowed[b.key] {
			ps.add(path+"."+b.key, "does not apply to type %s", p.Type)
		}
	}
	if p.Default != "" && len(ps.List) == before {
		if _, err := p.Check(p.Default); err != nil {
			ps.add(path+".default", "%v", err)
		}
	}
}

// Check checks value against the parameter's type and bounds and returns
// the value to pass on (an int or an address in its canonical form). An
// interface is checked as a name only: whether it exists is for the caller.
// The error is a sentence about the value, without the parameter's name.
func (p Param) Check(value string) (string, error) {
	max := maxEnumValue
	switch p.Type {
	case ParamInt:
		max = 20
	case ParamHostname:
		max = 253
	case ParamIP:
		max = 45 // the longest IPv6 address, with an IPv4 tail
	case ParamCIDR:
		max = 49
	case ParamInterface:
		max = 15
	case ParamString:
		max = p.MaxLength
	}
	if value == "" {
		return "", fmt.Errorf("must not be empty")
	}
	if err := checkValueChars(value, max); err != nil {
		return "", err
	}
	// Only an int whose min is below 0 may start with -.
	if strings.HasPrefix(value, "-") && !(p.Type == ParamInt && p.Min != nil && *p.Min < 0) {
		return "", fmt.Errorf("%q must not start with -", clipValue(value))
	}
	switch p.Type {
	case ParamEnum:
		for _, v := range p.Values {
			if value == v {
				return value, nil
			}
		}
		return "", fmt.Errorf("%q is not one of %s", clipValue(value), strings.Join(p.Values, ", "))
	case ParamInt:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || strconv.FormatInt(n, 10) != value {
			return "", fmt.Errorf("%q is not a whole number written in plain digits", clipValue(value))
		}
		if p.Min == nil || p.Max == nil || n < *p.Min || n > *p.Max {
			return "", fmt.Errorf("%d is outside %s..%s", n, fmtBound(p.Min), fmtBound(p.Max))
		}
		return value, nil
	case ParamHostname:
		if err := CheckDomain(strings.TrimSuffix(value, ".")); err != nil {
			return "", fmt.Errorf("%q is not a host name (RFC 1123: letters, digits, inner - and dots)", clipValue(value))
		}
		if strings.Trim(value, "0123456789.") == "" {
			return "", fmt.Errorf("%q is a number, not a host name", clipValue(value))
		}
		return value, nil
	case ParamIP:
		a, err := netip.ParseAddr(value)
		if err != nil || a.Zone() != "" {
			return "", fmt.Errorf("%q is not an IPv4 or IPv6 address", clipValue(value))
		}
		return a.String(), nil
	case ParamCIDR:
		pfx, err := netip.ParsePrefix(value)
		if err != nil || pfx.Addr().Zone() != "" {
			return "", fmt.Errorf("%q is not an address with a prefix length, such as 192.168.4.0/24", clipValue(value))
		}
		return pfx.String(), nil
	case ParamInterface:
		if err := CheckInterfaceName(value); err != nil {
			return "", err
		}
		return value, nil
	case ParamString:
		re, err := regexp.Compile(`^(?:` + p.Pattern + `)$`)
		if err != nil || p.Pattern == "" {
			return "", fmt.Errorf("cannot be checked: the parameter has no valid pattern")
		}
		if !re.MatchString(value) {
			return "", fmt.Errorf("%q does not match %s", clipValue(value), p.Pattern)
		}
		return value, nil
	}
	return "", fmt.Errorf("has an unknown type %q", p.Type)
}

func fmtBound(b *int64) string {
	if b == nil {
		return "?"
	}
	return strconv.FormatInt(*b, 10)
}

// checkValueChars is what every parameter value is: at most max bytes of
// printable ASCII (no control character, no byte above 0x7e, so no
// look-alike letters, no invalid or overlong UTF-8).
func checkValueChars(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("is %d bytes long; at most %d", len(s), max)
	}
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b < 0x20 || b == 0x7f:
			return fmt.Errorf("contains a control character (byte %d is %#02x)", i, b)
		case b > 0x7e:
			return fmt.Errorf("contains a character that is not printable ASCII (byte %d is %#02x)", i, b)
		}
	}
	return nil
}

// checkValueText is checkValueChars, and no leading - (an option to most
// programs).
func checkValueText(s string, max int) error {
	if err := checkValueChars(s, max); err != nil {
		return err
	}
	if strings.HasPrefix(s, "-") {
		return fmt.Errorf("%q must not start with -", clipValue(s))
	}
	return nil
}

// checkPrintable is a config text: valid UTF-8 of at most max bytes with
// no control character.
func checkPrintable(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("is %d bytes long; at most %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("contains a control character (%U)", r)
		}
	}
	return nil
}

func checkText(ps *Problems, path, s string, min, max int) {
	switch {
	case len(s) < min:
		ps.add(path, "must not be empty")
	case len(s) > max:
		ps.add(path, "is %d bytes long; at most %d", len(s), max)
	default:
		if err := checkPrintable(s, max); err != nil {
			ps.add(path, "%v", err)
		}
	}
}

func clipValue(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Params are a command's parameters in the order the config lists them
// (the order of the form). In YAML they are a mapping from name to
// parameter.
type Params []Param

// Lookup finds the parameter name.
func (ps Params) Lookup(name string) (Param, bool) {
	for _, p := range ps {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// UnmarshalYAML reads the mapping, keeping its order.
func (ps *Params) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: params must be a mapping of name to parameter", n.Line)}}
	}
	out := Params{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		var p Param
		if err := n.Content[i+1].Decode(&p); err != nil {
			return err
		}
		p.Name = n.Content[i].Value
		out = append(out, p)
	}
	*ps = out
	return nil
}

// MarshalYAML writes the mapping in order.
func (ps Params) MarshalYAML() (any, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, p := range ps {
		var v yaml.Node
		if err := v.Encode(p); err != nil {
			return nil, err
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: p.Name}, &v)
	}
	return m, nil
}

// Size is a number of bytes, written as a whole number or with a binary
// unit: 512KiB, 1MiB, 1GiB.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}

// ParseSize reads "1MiB", "512KiB" or a number of bytes.
func ParseSize(s string) (Size, error) {
	num, mult := s, int64(1)
	for _, u := range sizeUnits {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = v, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<46)/mult {
		return 0, fmt.Errorf("%q is not a size such as 1MiB, 512KiB or a number of bytes", s)
	}
	return Size(n * mult), nil
}

// UnmarshalYAML accepts "1MiB" as well as a number of bytes. Its error is
// a *yaml.TypeError, so that decoding goes on and every problem is found.
func (z *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: must be a size such as 1MiB", n.Line)}}
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*z = v
	return nil
}

// MarshalYAML writes whole units with their unit.
func (z Size) MarshalYAML() (any, error) { return z.String(), nil }

func (z Size) String() string {
	for _, u := range sizeUnits {
		if z != 0 && int64(z)%u.mult == 0 {
			return strconv.FormatInt(int64(z)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(z), 10)
}
