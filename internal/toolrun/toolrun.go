// Package toolrun is devmgr's one way of running programs: argv (never a
// shell string), LC_ALL=C and a fixed PATH, a timeout, stdout and stderr
// combined. Run collects the output of a tool devmgr checks and applies
// configuration with, and its errors carry argv and output; a run can be
// put in a fresh, empty network namespace so a check never sees or changes
// the host's network state. Start streams a program's output line by line
// (diagnostics, the command catalog) and keeps the program and everything
// it starts in one process group that ends with the run.
package toolrun

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Options says how Run runs a tool.
type Options struct {
	// Timeout bounds the run (0: only ctx bounds it).
	Timeout time.Duration
	// NewNetns runs the tool in a new, empty network namespace, and a new
	// user namespace too when not root.
	NewNetns bool
	// Env is added to LC_ALL=C and PATH.
	Env []string
}

// Run executes argv as opts says and returns the combined output, also on
// failure. The error of a tool that ran and failed wraps an *exec.ExitError.
func Run(ctx context.Context, opts Options, argv ...string) ([]byte, error) {
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env(opts.Env...)
	cmd.WaitDelay = time.Second
	if opts.NewNetns {
		cmd.SysProcAttr = netnsAttr()
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("running %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

func netnsAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() != 0 {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	return attr
}

// LookPath finds a program on PATH or else in the system directories,
// the sbin ones above all, which a non-login shell's PATH may lack. The
// error of a missing program wraps exec.ErrNotFound.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("program %s not found on PATH or in /usr/sbin, /sbin: %w", name, exec.ErrNotFound)
}
