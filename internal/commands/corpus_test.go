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
	"github.com/devmgr/devmgr/internal/testing/injection"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// corpusCommands are one command per parameter of the corpus, each
// running a script that would create the canary.
func corpusCommands(prog string) []config.Command {
	var out []config.Command
	for _, p := range injection.Params {
		c := command("corpus-"+p.Name, prog, "--value={"+p.Name+"}")
		c.Params = config.Params{p}
		out = append(out, c)
	}
	return out
}

// Every payload against every parameter type, through the runner: each is
// refused with a field error naming the parameter, nothing is recorded,
// and the canary shows that nothing ran. Then a valid value does run, so
// the canary is known to work.
func TestInjectionCorpus(t *testing.T) {
	t.Parallel()
	if len(injection.Payloads) < 100 {
		t.Fatalf("%d payloads; the corpus has at least 100", len(injection.Payloads))
	}
	canary := filepath.Join(t.TempDir(), "canary")
	prog := testutil.Script(t, "touch "+canary)
	r, h := newRunner(t, Config{Env: testEnv})
	ctx := context.Background()
	for _, cmd := range corpusCommands(prog) {
		name := cmd.Params[0].Name
		for _, inj := range injection.Payloads {
			payload := injection.Expand(inj, injection.Valid[name], canary)
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
		rec := wait(t, start(t, r, withParams(cmd, name, injection.Valid[name]), "alice"))
		if rec.Status != StatusOK || rec.Argv[1] != "--value="+injection.Valid[name] {
			t.Errorf("%s=%s: %s %q", name, injection.Valid[name], rec.Status, rec.Argv)
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
