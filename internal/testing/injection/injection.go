// Package injection is the injection corpus of the command catalog's
// tests: values that try to reach a shell, smuggle an option or a path,
// overflow a limit or pass for something they are not. The core's tests
// (internal/commands) run it against every parameter type through the
// runner, the agent's through its HTTP API.
package injection

import (
	"strings"

	"github.com/devmgr/devmgr/internal/config"
)

// Payloads are the corpus, at least 100. Expand turns "{v}" into a valid
// value of the parameter's type and CANARY into the canary's path, so that
// each payload is a near miss of a real value and, were a shell ever
// involved, would leave the canary behind.
var Payloads = []string{
	// shell metacharacters after a valid value
	"{v};touch CANARY", "{v}; touch CANARY", "{v}&&touch CANARY", "{v}||touch CANARY", "{v}|touch CANARY",
	"{v}&touch CANARY", "{v}$(touch CANARY)", "{v}`touch CANARY`", "{v}\ntouch CANARY", "{v}\r\ntouch CANARY",
	"{v}\x00touch CANARY", "{v}>CANARY", "{v}>>CANARY", "{v}<CANARY", "{v} #", "{v}#", "{v}'", "{v}\"",
	"{v}\\", "{v}${IFS}touch${IFS}CANARY", "{v}%0atouch CANARY", "{v}!", "{v}*", "{v}?", "{v}~",
	// ... and before it, or alone
	";touch CANARY", "&&touch CANARY", "|touch CANARY", "$(touch CANARY)", "`touch CANARY`", "\ntouch CANARY",
	"'; touch CANARY; '", "\"; touch CANARY; \"", "$(id)", "`id`", "${PATH}", "$HOME", "~root", "*", "?", "[a]",
	"{a,b}", "%s%s%s%n", "\x00", "\n", "\r", "\t", " ", "  {v}", "{v} ", "\t{v}",
	// options
	"-", "--", "-{v}", "--{v}", "--help", "-h", "--version", "-oProxyCommand=touch CANARY", "--output=CANARY",
	"--exec=touch CANARY", "-e touch CANARY", "-n", "-1", "--1", "-0", "-9223372036854775808", "--count=5",
	// paths
	"../", "../../../../etc/passwd", "{v}/../../etc/shadow", "/etc/passwd", "..", ".", "./{v}", "/", "CANARY",
	"..%2f..%2fetc%2fpasswd", "{v}%00", "file:///etc/passwd",
	// length
	strings.Repeat("a", 5000), "{v}" + strings.Repeat("x", 4100), strings.Repeat("9", 30),
	strings.Repeat("a", 64) + ".com", strings.Repeat("a.", 130) + "com", strings.Repeat("{v}", 200),
	// Unicode look-alikes, invisible and direction characters
	"ехample.com", "еth0", "１２", "192.168.0.１", "{v}\u200b", "\u202e{v}", "ａｂｃ", "{v}；touch CANARY",
	"{v}ǀtouch CANARY", "‐{v}", "−1", "{v}\u00a0", "\ufeff{v}", "{v}\u2028touch CANARY", "ﬁle", "İ",
	// bytes that are not UTF-8: overlong encodings, surrogates, strays
	"\xc0\xaf", "\xc0\xae\xc0\xae\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xc1\xbf", "{v}\xc0\xbb",
	"\xed\xa0\x80", "\xff", "\xfe\xff", "{v}\x80", "\xc0\x80", "%c0%af",
	// control characters
	"\x1b[31m{v}", "{v}\x7f", "\x08{v}", "{v}\x85", "{v}\u0085", "\x1b]0;title\x07",
}

// Expand makes a payload a near miss of a real value: "{v}" becomes
// valid, a good value of the parameter's type, and CANARY the path of a
// file that a payload that ran would leave behind.
func Expand(payload, valid, canary string) string {
	return strings.ReplaceAll(strings.ReplaceAll(payload, "{v}", valid), "CANARY", canary)
}

// Params are the corpus's targets: a parameter of every type (two
// interfaces: any, and LAN only), each with a good value in Valid. An
// interface check that knows eth0 and eth1, eth1 the LAN, accepts Valid.
var Params = config.Params{
	{Name: "mode", Type: config.ParamEnum, Values: []string{"fast", "slow"}},
	{Name: "count", Type: config.ParamInt, Min: ptr(1), Max: ptr(10)},
	{Name: "host", Type: config.ParamHostname},
	{Name: "addr", Type: config.ParamIP},
	{Name: "net", Type: config.ParamCIDR},
	{Name: "iface", Type: config.ParamInterface},
	{Name: "lan", Type: config.ParamInterface, LANOnly: true},
	{Name: "text", Type: config.ParamString, Pattern: "^[a-z][a-z0-9]*$", MaxLength: 16},
}

// Valid is a good value of each of Params, in canonical form.
var Valid = map[string]string{"mode": "fast", "count": "5", "host": "example.com", "addr": "192.0.2.1",
	"net": "192.0.2.0/24", "iface": "eth0", "lan": "eth1", "text": "abc"}

func ptr(n int64) *int64 { return &n }
