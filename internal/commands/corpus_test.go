package commands

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/fielderr"
)

// injections are values that try to reach a shell, smuggle an option or a
// path, overflow a limit or pass for something they are not. "{v}" is
// replaced by a valid value of the parameter's type and CANARY by the
// canary's path, so that each payload is a near miss of a real value and,
// were a shell ever involved, would leave the canary behind.
var injections = []string{
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

// corpusCommands are one command per parameter of typed (but delta, an
// int that may be negative), each running a script that would create the
// canary.
func corpusCommands(prog string) []config.Command {
	var out []config.Command
	for _, p := range typed.Params {
		if p.Name == "delta" {
			continue
		}
		c := command("corpus-"+p.Name, prog, "--value={"+p.Name+"}")
		c.Params = config.Params{p}
		out = append(out, c)
	}
	return out
}

// valid is a good value of each corpus parameter, in canonical form.
var valid = map[string]string{"mode": "fast", "count": "5", "host": "example.com", "addr": "192.0.2.1",
	"net": "192.0.2.0/24", "iface": "eth0", "lan": "eth1", "text": "abc"}

// Every payload against every parameter type, through the runner: each is
// refused with a field error naming the parameter, nothing is recorded,
// and the canary shows that nothing ran. Then a valid value does run, so
// the canary is known to work.
func TestInjectionCorpus(t *testing.T) {
	t.Parallel()
	if len(injections) < 100 {
		t.Fatalf("%d payloads; the corpus has at least 100", len(injections))
	}
	canary := filepath.Join(t.TempDir(), "canary")
	prog := script(t, "touch "+canary)
	r, h := newRunner(t, Config{Env: testEnv})
	ctx := context.Background()
	for _, cmd := range corpusCommands(prog) {
		name := cmd.Params[0].Name
		for _, inj := range injections {
			payload := strings.ReplaceAll(strings.ReplaceAll(inj, "{v}", valid[name]), "CANARY", canary)
			_, err := r.Start(ctx, Request{Command: cmd, Params: map[string]string{name: payload}, User: "mallory", Role: auth.Operator})
			var list fielderr.List
			switch {
			case err == nil:
				t.Errorf("%s accepted %q", name, payload)
			case !errors.As(err, &list) || len(list) != 1 || list[0].Field != "params."+name:
				t.Errorf("%s refused %q with %v, want one field error of params.%s", name, payload, err, name)
			case strings.Contains(list[0].Message, "\n") || strings.Contains(list[0].Message, "\x00") || len(list[0].Message) > 300:
				t.Errorf("%s: the message for %q carries the payload raw: %q", name, payload, list[0].Message)
			}
		}
	}
	if _, err := os.Stat(canary); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the canary exists (%v): a payload ran", err)
	}
	if page, err := h.List(ctx, Filter{}); err != nil || page.Total != 0 {
		t.Errorf("%d refused runs recorded (%v)", page.Total, err)
	}

	for _, cmd := range corpusCommands(prog) {
		name := cmd.Params[0].Name
		rec := wait(t, start(t, r, withParams(cmd, name, valid[name]), "alice"))
		if rec.Status != StatusOK || rec.Argv[1] != "--value="+valid[name] {
			t.Errorf("%s=%s: %s %q", name, valid[name], rec.Status, rec.Argv)
		}
	}
	if _, err := os.Stat(canary); err != nil {
		t.Errorf("valid values ran and the canary is missing: %v", err)
	}
}

// withParams gives cmd a default for name, so start passes it.
func withParams(cmd config.Command, name, value string) config.Command {
	ps := append(config.Params(nil), cmd.Params...)
	for i := range ps {
		if ps[i].Name == name {
			ps[i].Default = value
		}
	}
	cmd.Params = ps
	return cmd
}
