package testutil

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strconv"
	"testing"
)

// TarGz lists a .tar.gz's entries by name: their kind and content
// ("file CONTENT", "dir", "dir opaque" for an overlay's opaque directory,
// "char MAJOR:MINOR" for a whiteout, else the type flag).
func TarGz(t testing.TB, b []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeChar:
			out[h.Name] = "char " + strconv.FormatInt(h.Devmajor, 10) + ":" + strconv.FormatInt(h.Devminor, 10)
		case tar.TypeDir:
			out[h.Name] = "dir"
			if h.PAXRecords["SCHILY.xattr.trusted.overlay.opaque"] == "y" {
				out[h.Name] += " opaque"
			}
		case tar.TypeReg:
			c, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[h.Name] = "file " + string(c)
		default:
			out[h.Name] = string(h.Typeflag)
		}
	}
}
