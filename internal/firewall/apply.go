package firewall

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

// Timeout bounds one run of nft.
const Timeout = 15 * time.Second

// Check runs `nft -c -f FILE` on the ruleset inside a new, empty network
// namespace (a new user namespace too when not root), so a check never
// reads or changes the host's rules.
func Check(ctx context.Context, ruleset []byte) error {
	if err := runFile(ctx, ruleset, true, "-c", "-f"); err != nil {
		return fmt.Errorf("checking nftables ruleset: %w", err)
	}
	return nil
}

// Apply loads the ruleset with `nft -f FILE` in the caller's network
// namespace; nft applies a file as one transaction.
func Apply(ctx context.Context, ruleset []byte) error {
	if err := runFile(ctx, ruleset, false, "-f"); err != nil {
		return fmt.Errorf("applying nftables ruleset: %w", err)
	}
	return nil
}

// Delete removes devmgr's table if it exists.
func Delete(ctx context.Context) error {
	if err := runFile(ctx, []byte("table "+Table+" {}\ndelete table "+Table+"\n"), false, "-f"); err != nil {
		return fmt.Errorf("deleting nftables table %s: %w", Table, err)
	}
	return nil
}

func runFile(ctx context.Context, ruleset []byte, newNetns bool, flags ...string) error {
	bin, err := lookPath("nft")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "devmgr-nft-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "devmgr.nft")
	if err := os.WriteFile(path, ruleset, 0o600); err != nil {
		return err
	}
	argv := append(append([]string{bin}, flags...), path)
	_, err = run(ctx, argv, newNetns)
	return err
}

// run executes argv with LC_ALL=C and Timeout, optionally in a new network
// namespace, and returns the combined output. Errors carry argv and output.
func run(ctx context.Context, argv []string, newNetns bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.WaitDelay = time.Second
	if newNetns {
		attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
		if os.Geteuid() != 0 {
			attr.Cloneflags |= syscall.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		}
		cmd.SysProcAttr = attr
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("running %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

// lookPath finds nft on PATH or in the sbin directories, which a
// non-login shell's PATH may lack.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("program %s not found on PATH or in /usr/sbin, /sbin", name)
}
