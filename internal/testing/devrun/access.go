package devrun

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/devmgr/devmgr/internal/toolrun"
)

// BlockedFor returns the first directory on the way to path (or path
// itself, for a program) that cred may not search or run, and its mode.
func BlockedFor(path string, cred *syscall.Credential) (string, os.FileMode) {
	var dirs []string
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		dirs = append([]string{d}, dirs...)
		if d == "/" || d == "." {
			break
		}
	}
	st, err := os.Stat(path)
	if err == nil && st.Mode().IsRegular() {
		dirs = append(dirs, path)
	}
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil {
			return d, 0
		}
		sys := st.Sys().(*syscall.Stat_t)
		var bit os.FileMode = 0o001
		switch {
		case sys.Uid == cred.Uid:
			bit = 0o100
		case sys.Gid == cred.Gid || slices.Contains(cred.Groups, sys.Gid):
			bit = 0o010
		}
		if st.Mode().Perm()&bit == 0 {
			return d, st.Mode().Perm()
		}
	}
	return "", 0
}

// ensureSystemUser creates the account name, as `devmgr provision` does on
// a device, when it is missing.
func ensureSystemUser(name string, out io.Writer) error {
	_, err := user.Lookup(name)
	if err == nil {
		return nil
	}
	var unknown user.UnknownUserError
	if !errors.As(err, &unknown) {
		return fmt.Errorf("looking up user %s: %w", name, err)
	}
	useradd, err := toolrun.LookPath("useradd")
	if err != nil {
		return err
	}
	nologin := "/usr/sbin/nologin"
	if _, err := os.Stat(nologin); err != nil {
		nologin = "/sbin/nologin"
	}
	if b, err := exec.Command(useradd, "--system", "--no-create-home", "--shell", nologin, name).CombinedOutput(); err != nil {
		if _, lerr := user.Lookup(name); lerr == nil {
			return nil // made by someone else meanwhile
		}
		return fmt.Errorf("creating system user %s: %w: %s", name, err, strings.TrimSpace(string(b)))
	}
	fmt.Fprintf(out, "created system user %s (the console's account, as on a device)\n", name)
	return nil
}
