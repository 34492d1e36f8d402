package wifivm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Boot describes one run of the VM.
type Boot struct {
	Qemu    string // path of qemu-system-x86_64
	Kernel  string // vmlinuz
	Initrd  string
	Console string // file that receives the serial console
	Timeout time.Duration
}

// Run boots the VM without any network device to the host and returns its
// console output when it powers off. TCG is used because KVM is not usable
// on these machines. On timeout or cancellation qemu is killed.
func (b Boot) Run(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.Qemu,
		"-accel", "tcg", "-cpu", "max", "-m", "512", "-smp", "1",
		"-nographic", "-no-reboot", "-nic", "none",
		"-kernel", b.Kernel, "-initrd", b.Initrd,
		"-append", "console=ttyS0 panic=-1 quiet")
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.WaitDelay = 5 * time.Second
	// qemu dies with the test even if the test binary is killed; the VM's
	// own deadline powers it off as well.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	f, err := os.Create(b.Console)
	if err != nil {
		return nil, fmt.Errorf("booting VM: %w", err)
	}
	defer f.Close()
	w := io.MultiWriter(&out, f)
	cmd.Stdout = w
	cmd.Stderr = w
	err = cmd.Run()
	if ctx.Err() != nil {
		return out.Bytes(), fmt.Errorf("booting VM: no power-off within %s: %w", b.Timeout, ctx.Err())
	}
	if err != nil {
		return out.Bytes(), fmt.Errorf("booting VM: %s: %w", strings.Join(cmd.Args, " "), err)
	}
	return out.Bytes(), nil
}

// Result is one case's outcome as the VM printed it.
type Result struct {
	Pass   bool
	Reason string // for a failure
}

var caseRE = regexp.MustCompile(`^CASE (\S+) (PASS|FAIL)(?:: (.*))?$`)

// ParseConsole returns the cases' results and any ABORT reason from the
// VM's console output.
func ParseConsole(out []byte) (map[string]Result, string) {
	res := map[string]Result{}
	var abort []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if m := caseRE.FindStringSubmatch(l); m != nil {
			res[m[1]] = Result{Pass: m[2] == "PASS", Reason: m[3]}
			continue
		}
		if r, ok := strings.CutPrefix(l, "WIFIVM ABORT: "); ok {
			abort = append(abort, r)
		}
	}
	return res, strings.Join(abort, "; ")
}

// Check returns an error listing every case that did not pass, including
// cases the VM never reported.
func Check(cases []Case, out []byte) error {
	res, abort := ParseConsole(out)
	var errs []error
	for _, c := range cases {
		for _, name := range c.ResultNames() {
			r, ok := res[name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("case %s: no result line", name))
			case !r.Pass:
				errs = append(errs, fmt.Errorf("case %s: %s", name, r.Reason))
			}
		}
	}
	if abort != "" {
		errs = append(errs, fmt.Errorf("VM aborted: %s", abort))
	}
	return errors.Join(errs...)
}
