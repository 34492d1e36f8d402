package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/store"
)

type entry struct {
	hdr  tar.Header
	body []byte
}

func readArchiveFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unpack reads a plain archive's entries as they are.
func unpack(t *testing.T, archive []byte) []entry {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []entry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{*hdr, b})
	}
}

// pack writes entries as a plain archive; a header's Size is the body's
// unless set.
func pack(t *testing.T, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range es {
		h := e.hdr
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// edit changes the body of member name; with remanifest the manifest's
// size and hash follow, as a forger who knows the format would do.
func edit(t *testing.T, es []entry, name string, f func([]byte) []byte, remanifest bool) []entry {
	t.Helper()
	out := make([]entry, len(es))
	copy(out, es)
	for i := range out {
		if out[i].hdr.Name == name {
			out[i].body = f(out[i].body)
			out[i].hdr.Size = int64(len(out[i].body))
		}
	}
	if remanifest {
		var m Manifest
		if err := json.Unmarshal(out[0].body, &m); err != nil {
			t.Fatal(err)
		}
		for i, x := range m.Members {
			for _, e := range out {
				if e.hdr.Name == x.Name {
					sum := sha256.Sum256(e.body)
					m.Members[i].Size, m.Members[i].SHA256 = int64(len(e.body)), hex.EncodeToString(sum[:])
				}
			}
		}
		b, _ := json.Marshal(m)
		out[0].body, out[0].hdr.Size = b, int64(len(b))
	}
	return out
}

func reg(name string, body []byte) entry {
	return entry{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Format: tar.FormatPAX}, body}
}

// Every kind of bad archive is refused with a message that says what is
// wrong, and the device is byte for byte what it was, its staging
// directory empty again.
func TestRefusedArchivesTouchNothing(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	d.populate()
	good := readArchiveFile(t, d.create(KindManual, "").Path)
	encrypted := readArchiveFile(t, d.create(KindManual, "a long enough passphrase").Path)
	es := unpack(t, good)

	// A database written by a newer devmgr (a later migration).
	newerDB := edit(t, es, MemberDB, func(b []byte) []byte {
		p := filepath.Join(t.TempDir(), "x.db")
		os.WriteFile(p, b, 0o600)
		db, err := sql.Open("sqlite", p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, '0099_future.sql', 0)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		nb, _ := os.ReadFile(p)
		return nb
	}, true)

	for _, tc := range []struct {
		name    string
		archive []byte
		pass    string
		limits  Limits
		want    error
		says    string
	}{
		{"not an archive", []byte("hello, this is no backup\n"), "", Limits{}, ErrNotBackup, "neither a .tar.gz nor"},
		{"empty", nil, "", Limits{}, ErrNotBackup, "empty"},
		{"truncated", good[:len(good)/2], "", Limits{}, ErrDamaged, "unexpected EOF"},
		{"corrupted checksum", func() []byte {
			b := bytes.Clone(good)
			b[len(b)-6] ^= 0xff // gzip's CRC-32 of the data
			return b
		}(), "", Limits{}, ErrDamaged, "checksum"},
		{"corrupted data", func() []byte {
			b := bytes.Clone(good)
			for i := len(b) / 3; i < len(b)/3+16; i++ {
				b[i] ^= 0x5a
			}
			return b
		}(), "", Limits{}, nil, ""},
		{"tampered member", pack(t, edit(t, es, MemberConfig, func(b []byte) []byte {
			return bytes.Replace(b, []byte("ssid: DeviceManager"), []byte("ssid: DeviceManagez"), 1)
		}, false)), "", Limits{}, ErrTampered, "config.yaml does not match the SHA-256"},
		{"member grew", pack(t, edit(t, es, MemberAP, func(b []byte) []byte { return append(b, ' ') }, false)),
			"", Limits{}, ErrTampered, "agent-ap.json has"},
		{"member missing", pack(t, append(slices.Clone(es[:1]), es[2:]...)), "", Limits{}, ErrDamaged, "config.yaml, which its manifest lists, is missing"},
		{"member not in manifest", pack(t, edit(t, es, MemberManifest, func(b []byte) []byte {
			var m Manifest
			json.Unmarshal(b, &m)
			m.Members = slices.DeleteFunc(m.Members, func(x Member) bool { return strings.HasPrefix(x.Name, "tls-") })
			nb, _ := json.Marshal(m)
			return nb
		}, false)), "", Limits{}, ErrTampered, "tls-cert.pem is not in its manifest"},
		{"member twice", pack(t, append(slices.Clone(es), es[1])), "", Limits{}, ErrTampered, "appears twice"},
		{"newer format", pack(t, edit(t, es, MemberManifest, func(b []byte) []byte {
			return bytes.Replace(bytes.Replace(b, []byte(`"format": 1`), []byte(`"format": 7`), 1),
				[]byte(`"devmgr_version": "v1.2.3"`), []byte(`"devmgr_version": "v9.0.0"`), 1)
		}, false)), "", Limits{}, ErrTooNew, "made by devmgr v9.0.0 (backup format 7)"},
		{"newer database", pack(t, newerDB), "", Limits{}, ErrTooNew, "schema version 99"},
		{"wrong passphrase", encrypted, "not the passphrase at all", Limits{}, ErrPassphrase, "wrong passphrase"},
		{"no passphrase", encrypted, "", Limits{}, ErrNeedPassphrase, "encrypted"},
		{"truncated encrypted", encrypted[:len(encrypted)-40], "a long enough passphrase", Limits{}, ErrDamaged, ""},
		{"dot-dot", pack(t, append(slices.Clone(es), reg("../../etc/passwd", []byte("root::0:0::/:/bin/sh\n")))), "", Limits{}, ErrUnsafe, `"../../etc/passwd" climbs out`},
		{"absolute", pack(t, append(slices.Clone(es), reg("/etc/shadow", []byte("x")))), "", Limits{}, ErrUnsafe, "absolute name"},
		{"symlink", pack(t, append(slices.Clone(es[:1]), entry{tar.Header{Typeflag: tar.TypeSymlink, Name: MemberConfig, Linkname: "/etc/shadow"}, nil})),
			"", Limits{}, ErrUnsafe, `is a link (to "/etc/shadow")`},
		{"hard link", pack(t, append(slices.Clone(es[:1]), entry{tar.Header{Typeflag: tar.TypeLink, Name: MemberDB, Linkname: "/var/lib/devmgr/devmgr.db"}, nil})),
			"", Limits{}, ErrUnsafe, "is a link"},
		{"device", pack(t, append(slices.Clone(es[:1]), entry{tar.Header{Typeflag: tar.TypeChar, Name: MemberConfig, Devmajor: 1, Devminor: 3}, nil})),
			"", Limits{}, ErrUnsafe, "device or FIFO"},
		{"unknown member", pack(t, append(slices.Clone(es), reg("evil.sh", []byte("#!/bin/sh\n")))), "", Limits{}, ErrInvalid, `"evil.sh" is not one devmgr writes`},
		{"manifest not first", pack(t, append(slices.Clone(es[1:]), es[0])), "", Limits{}, ErrNotBackup, "first member"},
		{"oversized member", pack(t, edit(t, es, MemberConfig, func(b []byte) []byte {
			return append(b, bytes.Repeat([]byte("#"), 2<<20)...)
		}, true)), "", Limits{}, ErrTooLarge, "config.yaml is"},
		{"oversized archive", good, "", Limits{Archive: int64(len(good) / 2)}, ErrTooLarge, "larger than"},
		{"unpacks too large", good, "", Limits{Total: 4096}, ErrTooLarge, "unpacks to more than 4096 bytes"},
		{"config fails check", pack(t, edit(t, es, MemberConfig, func(b []byte) []byte {
			return append(b, []byte("backup:\n  keep: 0\n")...)
		}, true)), "", Limits{}, ErrInvalid, "fails devmgr config check"},
		{"forged agent settings", pack(t, edit(t, es, MemberLAN, func([]byte) []byte {
			return []byte(`{"eth0":{"mode":"dhcp"}}`)
		}, true)), "", Limits{}, ErrInvalid, "not a LAN interface"},
		{"forged AP settings", pack(t, edit(t, es, MemberAP, func([]byte) []byte {
			return []byte(`{"settings":{"ssid":"x","passphrase":"short","passphrase_set":true,"security":"wpa2","band":"2.4ghz","channel":6,"country":"US","isolate":false,"hidden":false},"deny":[]}`)
		}, true)), "", Limits{}, ErrInvalid, "passphrase"},
		{"database not SQLite", pack(t, edit(t, es, MemberDB, func(b []byte) []byte {
			return bytes.Repeat([]byte("not a database "), 100)
		}, true)), "", Limits{}, ErrDamaged, "database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tree(t, d.root)
			o := d.restoreOptions()
			o.Limits = tc.limits
			o.Passphrase = func() (string, error) { return tc.pass, nil }
			_, err := Restore(context.Background(), bytes.NewReader(tc.archive), o)
			switch {
			case err == nil:
				t.Fatal("the archive was restored")
			case tc.want == nil:
				if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrTampered) {
					t.Errorf("error = %v, want damaged or tampered", err)
				}
			case !errors.Is(err, tc.want):
				t.Errorf("error = %v, want %v", err, tc.want)
			case !strings.Contains(err.Error(), tc.says):
				t.Errorf("error = %q, want it to say %q", err, tc.says)
			}
			if diff := cmp.Diff(before, tree(t, d.root)); diff != "" {
				t.Errorf("the device changed (-before +after):\n%s", diff)
			}
			if left, _ := os.ReadDir(d.tmp); len(left) != 0 {
				t.Errorf("staging left behind: %v", left)
			}
		})
	}
}

// The archive's layout: the manifest first, then the members in order,
// each a regular 0600 file under its logical name, each listed with its
// size and hash.
func TestArchiveLayout(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	d.populate()
	info := d.create(KindScheduled, "")
	if info.Name != "devmgr-dev-1-"+info.CreatedAt.Format("20060102T150405Z")+"-scheduled.tar.gz" {
		t.Errorf("name %s", info.Name)
	}
	if st, _ := os.Stat(info.Path); st.Mode().Perm() != 0o600 {
		t.Errorf("archive mode %#o", st.Mode().Perm())
	}
	es := unpack(t, readArchiveFile(t, info.Path))
	var names []string
	for _, e := range es {
		names = append(names, e.hdr.Name)
		if e.hdr.Typeflag != tar.TypeReg || e.hdr.Mode != 0o600 {
			t.Errorf("%s: type %q mode %#o", e.hdr.Name, e.hdr.Typeflag, e.hdr.Mode)
		}
	}
	if diff := cmp.Diff(memberOrder, names); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	var m Manifest
	if err := json.Unmarshal(es[0].body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Format != FormatVersion || m.Version != "v1.2.3" || m.Hostname != "dev-1" || m.Kind != KindScheduled || !m.CreatedAt.Equal(info.CreatedAt) {
		t.Errorf("manifest %+v", m)
	}
	for i, x := range m.Members {
		sum := sha256.Sum256(es[i+1].body)
		if x.Name != es[i+1].hdr.Name || x.Size != int64(len(es[i+1].body)) || x.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("manifest lists %+v for %s", x, es[i+1].hdr.Name)
		}
	}
	// The database member is a snapshot that opens by itself.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, store.FileName), es[2].body, 0o600)
	db, err := store.Open(context.Background(), dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if users, _ := db.ListUsers(context.Background()); len(users) != 3 {
		t.Errorf("snapshot has %d users", len(users))
	}
	// An encrypted one is an age file.
	enc := d.create(KindManual, "a long enough passphrase")
	if !strings.HasSuffix(enc.Name, ".devmgr-backup") || !bytes.HasPrefix(readArchiveFile(t, enc.Path), ageMagic) {
		t.Errorf("encrypted archive %s is not an age file", enc.Name)
	}
	if _, err := Write(io.Discard, &Contents{Manifest: Manifest{Kind: KindManual}}, WriteOptions{Passphrase: "short"}); err == nil {
		t.Error("a short passphrase was taken")
	}
}
