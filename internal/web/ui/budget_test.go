package ui

import (
	"bytes"
	"io/fs"
	"path"
	"strings"
	"testing"
)

// scriptBudget is the most lines of the console's own script: pages are
// rendered on the server, and script does only what the browser alone can
// (the change countdown, streaming output, the session's end).
const scriptBudget = 400

func TestScriptBudget(t *testing.T) {
	t.Parallel()
	total := 0
	err := fs.WalkDir(Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(p, "vendor/") || path.Ext(p) != ".js" {
			return err
		}
		b, err := fs.ReadFile(Static(), p)
		if err != nil {
			return err
		}
		n := bytes.Count(b, []byte("\n"))
		t.Logf("%s: %d lines", p, n)
		total += n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > scriptBudget {
		t.Errorf("the console's script is %d lines, over the budget of %d: render it on the server", total, scriptBudget)
	}
}
