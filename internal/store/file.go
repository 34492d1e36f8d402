package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// dbMode is the mode of the database and of the -wal and -shm files that
// SQLite creates beside it (it gives them the database's mode, by
// descriptor, whatever the umask). The database holds password hashes and
// sessions: it is its owner's alone.
const dbMode = 0o600

// sidecars are the files SQLite keeps beside the database in WAL mode.
var sidecars = []string{"-wal", "-shm"}

// prepareFiles creates the database file at path, or checks the one
// there, before SQLite opens it by path. A new file is created with
// O_EXCL|O_NOFOLLOW and mode 0600. An existing database, -wal or -shm
// that is a symlink or not a regular file is refused, and one open to
// others is set to 0600 through a descriptor opened with O_NOFOLLOW, so
// that nothing but the file in the data directory is ever changed.
// Nothing is chowned: who runs devmgr owns what it creates.
//
// SQLite opens the database by path afterwards, so a process that can
// write the data directory can still swap the file in between; only that
// directory's owner can, and the CLI runs as that owner (web.user).
func prepareFiles(path string) (created bool, err error) {
	for _, s := range sidecars {
		if err := ownerOnly(path+s, "database file", true); err != nil {
			return false, err
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, dbMode)
	switch {
	case err == nil:
		// The umask may have narrowed the mode; 0600 exactly is wanted.
		err = f.Chmod(dbMode)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return true, fmt.Errorf("creating database %s: %w", path, err)
		}
		created = true
	case errors.Is(err, fs.ErrExist):
		if err := ownerOnly(path, "database", false); err != nil {
			return false, err
		}
	default:
		return false, fmt.Errorf("creating database %s: %w", path, err)
	}
	return created, nil
}

// ownerOnly refuses a path that is a symlink or not a regular file and
// takes the group's and others' permissions from the file it names. A
// missing file is fine if optional.
func ownerOnly(path, what string, optional bool) error {
	st, err := os.Lstat(path)
	if optional && errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s %s: %w", what, path, err)
	}
	if err := regular(path, what, st); err != nil {
		return err
	}
	// O_NONBLOCK: should the file have become a FIFO since Lstat, the open
	// must not wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ELOOP) {
		return fmt.Errorf("%s %s is a symbolic link; refusing to open it (move the real file there)", what, path)
	}
	if err != nil {
		return fmt.Errorf("opening %s %s: %w", what, path, err)
	}
	defer f.Close()
	fst, err := f.Stat()
	if err != nil {
		return fmt.Errorf("checking %s %s: %w", what, path, err)
	}
	if err := regular(path, what, fst); err != nil {
		return err
	}
	if fst.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(dbMode); err != nil {
			return fmt.Errorf("setting mode of %s %s to %04o: %w", what, path, dbMode, err)
		}
	}
	return nil
}

func regular(path, what string, st fs.FileInfo) error {
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s %s is a symbolic link; refusing to open it (move the real file there)", what, path)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s %s is not a regular file (%s); refusing to open it", what, path, st.Mode().Type())
	}
	return nil
}
