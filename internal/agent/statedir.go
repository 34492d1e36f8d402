package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// PrepareStateDir makes the agent's state directory (agent.state_dir) if
// it is missing, root:root 0700, and checks it: the agent keeps its
// journals and audit log there and acts on them as root, so the directory
// must be root's, closed to everyone else, and reached only through
// directories that no other user can change (root's and not writable by
// others, or sticky like /tmp). An error says what to fix; the agent does
// not start then.
func PrepareStateDir(dir string) error {
	if dir == "" {
		return errors.New("agent.state_dir is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("agent.state_dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("creating the parent of agent.state_dir %s: %w", abs, err)
	}
	if err := os.Mkdir(abs, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating agent.state_dir %s: %w", abs, err)
	}
	return CheckStateDir(abs)
}

// CheckStateDir checks dir as PrepareStateDir does, changing nothing.
func CheckStateDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking agent.state_dir: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("agent.state_dir %s is not a directory (%s); the agent refuses to start", dir, st.Mode().Type())
	}
	uid, _ := owner(st)
	if uid != 0 || st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("agent.state_dir %s is owned by uid %d with mode %04o; it must be root's and closed to others "+
			"(chown root:root %s && chmod 0700 %s); the agent refuses to start", dir, uid, st.Mode().Perm(), dir, dir)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("resolving agent.state_dir %s: %w", dir, err)
	}
	for d := filepath.Dir(real); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("checking %s, on the way to agent.state_dir: %w", d, err)
		}
		uid, _ := owner(st)
		sticky := st.Mode()&fs.ModeSticky != 0
		if uid != 0 || (st.Mode().Perm()&0o022 != 0 && !sticky) {
			return fmt.Errorf("%s, on the way to agent.state_dir %s, is owned by uid %d with mode %04o: another user could "+
				"replace the state directory; keep agent.state_dir under directories only root can change", d, dir, uid, st.Mode().Perm())
		}
		if d == "/" {
			return nil
		}
	}
}

func owner(st fs.FileInfo) (uid, gid uint32) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Uid, s.Gid
	}
	return ^uint32(0), ^uint32(0)
}
