package backup

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/mountinfo"
)

// ErrNoRoom refuses to write an archive that would leave the filesystem
// it goes to with less free space than its floor; nothing was written.
var ErrNoRoom = errors.New("not enough free space for a backup")

// An archive may not take the last free space of its filesystem, which
// on a device is the root one: SQLite, the journal and the logs need it
// more than another backup does. What stays free after the archive must
// be at least minFree, or minFreePercent of the filesystem when that is
// more.
const (
	minFree        = 64 << 20
	minFreePercent = 5
)

// checkRoom refuses (ErrNoRoom) to write up to size bytes in dir when the
// filesystem that holds it would keep less than its floor free. Every
// writer of an archive asks it first, with the most it may write: free
// space counted before is still there when the write ends, unless
// something else takes it meanwhile.
func checkRoom(dir string, size int64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("reading the free space of %s: %w", dir, err)
	}
	// The counts are in fragments (statvfs(3)), which most filesystems
	// make their block size.
	unit := int64(st.Frsize)
	if unit <= 0 {
		unit = int64(st.Bsize)
	}
	// Bavail, not Bfree: the blocks a filesystem keeps for root are not
	// ours to take, though the agent is root.
	free, total := int64(st.Bavail)*unit, int64(st.Blocks)*unit
	floor := max(minFree, total/100*minFreePercent)
	if free-size >= floor {
		return nil
	}
	return fmt.Errorf("%w: %d MiB are free, and a backup of up to %d MiB would leave less than the %d MiB kept free for the system; "+
		"nothing was written: delete old backups or free space on %s", ErrNoRoom, free>>20, mib(size), floor>>20, mountOf(dir))
}

// mib is n in MiB, rounded up: a backup of a few KiB is "1 MiB", not "0".
func mib(n int64) int64 { return (n + 1<<20 - 1) >> 20 }

// mountOf is the mount point of the filesystem that holds dir, where an
// admin frees space; dir itself when the mount table does not say.
func mountOf(dir string) string {
	p, err := filepath.EvalSymlinks(dir)
	if err == nil {
		p, err = filepath.Abs(p)
	}
	if err != nil {
		return dir
	}
	ms, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		return dir
	}
	if m, ok := mountinfo.Holding(ms, p); ok {
		return m.Point
	}
	return dir
}
