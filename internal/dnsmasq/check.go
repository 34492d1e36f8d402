package dnsmasq

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// CheckTimeout bounds one run of dnsmasq by Check.
const CheckTimeout = 10 * time.Second

// Check runs `dnsmasq --test -C FILE` on conf. The file is checked on its
// own: dnsmasq's default /etc/dnsmasq.conf is not read.
func Check(ctx context.Context, conf []byte) error {
	bin, err := lookPath("dnsmasq")
	if err != nil {
		return fmt.Errorf("checking dnsmasq config: %w", err)
	}
	dir, err := os.MkdirTemp("", "devmgr-dnsmasq-check-")
	if err != nil {
		return fmt.Errorf("checking dnsmasq config: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "dnsmasq.conf")
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		return fmt.Errorf("checking dnsmasq config: %w", err)
	}
	if _, err := run(ctx, []string{bin, "--test", "-C", path}); err != nil {
		return fmt.Errorf("checking dnsmasq config: %w", err)
	}
	return nil
}

// run executes argv with LC_ALL=C and CheckTimeout and returns the combined
// output. Errors carry argv and output.
func run(ctx context.Context, argv []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("running %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

// lookPath finds a daemon on PATH or in the sbin directories, which a
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
