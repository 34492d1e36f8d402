package backup

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/testing/mountns"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// No archive takes the last free space of its filesystem, whatever its
// kind: on real filesystems (tmpfs in a mount namespace of the test's
// own), a backup, a pre-restore backup and an upload are refused with
// ErrNoRoom where they would leave less than the floor free, saying what
// is free and where to free space, and leave no file; an upload counts
// its limit, a backup the bound of its members. On a large filesystem
// the same are written.
func TestRoom(t *testing.T) {
	root, child := mountns.Private(t)
	if !child {
		return
	}
	ctx := context.Background()
	d := newDevice(t)
	d.populate()
	upload := d.create(KindManual, "") // outside the mounts: what is uploaded and restored
	mount := func(name, size string) string {
		t.Helper()
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700,size="+size); err != nil {
			t.Fatalf("mounting a tmpfs of %s on %s: %v", size, dir, err)
		}
		return dir
	}
	minute := 0
	create := func(dir, kind, passphrase string) (Info, error) {
		minute++ // names go by the second
		at := time.Now().Add(time.Duration(minute) * time.Minute)
		return Create(ctx, CreateOptions{Sources: d.sources(), Dir: dir, Kind: kind, Passphrase: passphrase, WorkFactor: 10,
			Version: "v1.2.3", Hostname: "dev-1", Now: func() time.Time { return at }})
	}
	keepCurrent := func(dir string) error {
		o := d.restoreOptions()
		o.Dir = dir
		st, err := Stage(ctx, openArchive(t, upload.Path), o)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_, err = st.KeepCurrent()
		return err
	}
	uploadTo := func(dir string, limit int64) error {
		_, err := Upload(ctx, openArchive(t, upload.Path), UploadOptions{Dir: dir, Limits: Limits{Archive: limit}, TempDir: d.tmp, Log: testLog(t)})
		return err
	}
	refused := func(what, dir string, err error) {
		t.Helper()
		if !errors.Is(err, ErrNoRoom) || !strings.Contains(err.Error(), " MiB are free, and a backup of up to ") ||
			!strings.HasSuffix(err.Error(), "delete old backups or free space on "+dir) {
			t.Errorf("%s in %s: %v, want ErrNoRoom naming %s", what, dir, err, dir)
		}
	}
	files := func(dir string) []string { return slices.Sorted(maps.Keys(testutil.Files(t, dir))) }

	// 16 MiB: less than the floor itself.
	small := mount("small", "16m")
	for _, kind := range []string{KindManual, KindScheduled, KindPreRestore} {
		_, err := create(small, kind, "")
		refused("a "+kind+" backup", small, err)
	}
	_, err := create(small, KindManual, "a long enough passphrase")
	refused("an encrypted backup", small, err)
	refused("a pre-restore backup", small, keepCurrent(small))
	refused("an upload of at most 1 MiB", small, uploadTo(small, 1<<20))
	if got := files(small); len(got) != 0 {
		t.Errorf("refused backups left %q", got)
	}

	// 100 MiB: room for a backup of a few KiB, not for an upload that
	// may be 64 MiB, whatever it turns out to be.
	medium := mount("medium", "100m")
	refused("an upload of at most 64 MiB", medium, uploadTo(medium, 64<<20))
	if got := files(medium); len(got) != 0 {
		t.Errorf("a refused upload left %q", got)
	}
	made, err := create(medium, KindManual, "")
	if err != nil {
		t.Fatalf("a backup on 100 MiB: %v", err)
	}
	// Then a few KiB above the floor: less than any archive's bound.
	var st unix.Statfs_t
	if err := unix.Statfs(medium, &st); err != nil {
		t.Fatal(err)
	}
	ballast := (int64(st.Bavail)*int64(st.Frsize) - minFree - 8<<10) &^ (4<<10 - 1)
	if err := os.WriteFile(filepath.Join(medium, "ballast"), make([]byte, ballast), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = create(medium, KindScheduled, "")
	refused("a backup a few KiB above the floor", medium, err)
	if got, want := files(medium), []string{filepath.Join(medium, "ballast"), made.Path}; !slices.Equal(got, want) {
		t.Errorf("after the refusal %s holds %q, want %q", medium, got, want)
	}

	// 1 GiB: all of them go.
	large := mount("large", "1g")
	for _, kind := range []string{KindManual, KindScheduled, KindPreRestore} {
		if _, err := create(large, kind, ""); err != nil {
			t.Errorf("a %s backup on 1 GiB: %v", kind, err)
		}
	}
	if _, err := create(large, KindManual, "a long enough passphrase"); err != nil {
		t.Errorf("an encrypted backup on 1 GiB: %v", err)
	}
	if err := keepCurrent(large); err != nil {
		t.Errorf("a pre-restore backup on 1 GiB: %v", err)
	}
	if err := uploadTo(large, 64<<20); err != nil {
		t.Errorf("an upload of at most 64 MiB on 1 GiB: %v", err)
	}
	if list, err := List(large); err != nil || len(list) != 6 {
		t.Errorf("1 GiB holds %d backups (%v), want 6", len(list), err)
	}
}
