// Package testutil holds helpers shared by tests: prerequisites that skip a
// test on a laptop but fail it under CI=true, so nothing is skipped in CI;
// the -short switch of the fast loop (make test-unit); one way to wait for an
// eventual condition; golden files.
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/devmgr/devmgr/internal/toolrun"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test, or fails it under CI, because a prerequisite is missing.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("prerequisite missing under CI: "+format, args...)
	}
	t.Skipf("prerequisite missing: "+format, args...)
}

// SkipShort skips a test that needs root, a namespace, a daemon, Chromium or
// the VM when go test runs with -short (make test-unit), except under CI,
// where nothing is skipped.
func SkipShort(t testing.TB, why string) {
	t.Helper()
	if testing.Short() && !InCI() {
		t.Skipf("-short: %s", why)
	}
}

// RequireRoot needs uid 0 (namespaces, nftables, the agent); such a test is
// not part of the fast loop, so it also honours -short.
func RequireRoot(t testing.TB) {
	t.Helper()
	SkipShort(t, "needs root")
	if os.Geteuid() != 0 {
		Missing(t, "root")
	}
}

// RequireBinary needs each named program on PATH (or in /usr/sbin, /sbin)
// and returns the path of the first.
func RequireBinary(t testing.TB, names ...string) string {
	t.Helper()
	var first string
	for i, n := range names {
		p, err := toolrun.LookPath(n)
		if err != nil {
			Missing(t, "program %s (install it with .ci/run)", n)
			return ""
		}
		if i == 0 {
			first = p
		}
	}
	return first
}

// GoTool finds the go command: on PATH (go test puts its own GOROOT/bin
// first), in $GOROOT/bin, or where .ci/run's Go lives.
func GoTool(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	dirs := []string{"/usr/local/go/bin"}
	if root := os.Getenv("GOROOT"); root != "" {
		dirs = append([]string{filepath.Join(root, "bin")}, dirs...)
	}
	for _, d := range dirs {
		p := filepath.Join(d, "go")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	Missing(t, "the go command")
	return ""
}

// Script writes an executable shell script with body in a fresh directory
// and returns its path: a program for tests of what runs programs.
func Script(t testing.TB, body string) string {
	t.Helper()
	sh := RequireBinary(t, "sh")
	p := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(p, []byte("#!"+sh+"\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// ModuleRoot is the repository's root, found from the test's package
// directory (go test runs a test there).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}
