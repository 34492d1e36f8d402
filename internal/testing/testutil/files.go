package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// Files maps every regular file under dirs to its contents, but a change
// log (changes.json, which every change extends): what a test compares
// before and after a change that must leave no trace.
func Files(t testing.TB, dirs ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range dirs {
		err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil || !fi.Mode().IsRegular() || fi.Name() == "changes.json" {
				return err
			}
			b, err := os.ReadFile(p)
			out[p] = string(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// WriteState writes dir/name (0600), making its directory: a state file
// as a test forges it.
func WriteState(t testing.TB, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// SetAside reports whether dir/name was set aside as
// NAME.rejected-UNIXTIME (change.Rejecter), and is gone.
func SetAside(t testing.TB, dir, name string) bool {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
		return false
	}
	m, _ := filepath.Glob(filepath.Join(dir, name+".rejected-*"))
	return len(m) == 1
}
