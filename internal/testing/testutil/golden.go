package testutil

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ (or set UPDATE_GOLDEN=1)")

// Updating reports whether golden files are being rewritten: go test -update,
// or UPDATE_GOLDEN=1 in the environment.
func Updating() bool { return *update || os.Getenv("UPDATE_GOLDEN") == "1" }

// Golden compares got with the golden file at path, or rewrites the file
// when Updating.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if Updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update, or set UPDATE_GOLDEN=1): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}
