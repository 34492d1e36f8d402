package ui

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"strings"
	"testing"
)

// The vendored files are exactly the committed ones: each listed in
// static/vendor/SHA256SUMS with its sum (scripts/vendor-ui.sh writes it),
// and nothing unlisted.
func TestVendoredFilesMatchSums(t *testing.T) {
	t.Parallel()
	st := Static()
	sums, err := fs.ReadFile(st, "vendor/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(sums)))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not SUM  PATH", sc.Text())
		}
		want[name] = sum
	}
	err = fs.WalkDir(st, "vendor", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "vendor/SHA256SUMS" {
			return err
		}
		b, err := fs.ReadFile(st, p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(b)
		switch sum, ok := want[p]; {
		case !ok:
			t.Errorf("%s is vendored but not in SHA256SUMS", p)
		case sum != hex.EncodeToString(h[:]):
			t.Errorf("%s does not match its SHA-256 in SHA256SUMS", p)
		}
		delete(want, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range want {
		t.Errorf("%s is in SHA256SUMS but not vendored", p)
	}
}
