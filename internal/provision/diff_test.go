package provision

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func TestUnified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b string
		want string
	}{
		{"equal", "x\n", "x\n", ""},
		{"new file", "", "a\nb\n", "--- old\n+++ new\n@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{"deleted", "a\n", "", "--- old\n+++ new\n@@ -1 +0,0 @@\n-a\n"},
		{"one change in the middle", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
			"--- old\n+++ new\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"},
		{"no newline at end", "a\nb", "a\nb\n", "--- old\n+++ new\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := Unified(&b, "old", "new", []byte(tt.a), []byte(tt.b)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnifiedAgreesWithPatch applies our diff with patch(1) when it is
// there: the result must be the new file.
func TestUnifiedAgreesWithPatch(t *testing.T) {
	t.Parallel()
	patch := testutil.RequireBinary(t, "patch")
	a := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\n"
	b := "A\nb\nc\nd\ne\nf\nG\nh\ni\nj\nk\nl\nm\nn\no\np\n"
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte(a), 0o644); err != nil {
		t.Fatal(err)
	}
	var d strings.Builder
	if err := Unified(&d, "f", "f", []byte(a), []byte(b)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(patch, p)
	cmd.Stdin = strings.NewReader(d.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("patch: %v\n%s\ndiff:\n%s", err, out, d.String())
	}
	got, _ := os.ReadFile(p)
	if string(got) != b {
		t.Errorf("patched file = %q, want %q\ndiff:\n%s", got, b, d.String())
	}
}
