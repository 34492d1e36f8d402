// Package docs holds devmgr's design and the facts measured on the test
// machines; its test keeps every Markdown link of the repository working in
// a clone.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestLinksStayInRepository: every relative link of README.md and docs/
// names a file inside the repository that exists (a link out of the clone,
// such as ../shared/DESIGN.md, is broken for everyone else).
func TestLinksStayInRepository(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	notes, _ := filepath.Glob(filepath.Join(root, "docs", "notes", "*.md"))
	deploy, _ := filepath.Glob(filepath.Join(root, "deploy", "*.md"))
	bench, _ := filepath.Glob(filepath.Join(root, "bench", "*.md"))
	files = append(append(append(append(files, notes...), deploy...), bench...), filepath.Join(root, "README.md"))
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			abs := filepath.Join(filepath.Dir(f), target)
			rel, err := filepath.Rel(root, abs)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links to %s, outside the repository", f[len(root)+1:], m[1])
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links to %s, which does not exist", f[len(root)+1:], m[1])
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no links checked: the file list is wrong")
	}
}
