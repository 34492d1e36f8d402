package vm

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
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Boot describes one run of a VM.
type Boot struct {
	Qemu    string // path of qemu-system-x86_64
	Kernel  string // vmlinuz
	Initrd  string
	Console string // file that receives the serial console (/dev/ttyS0)
	Timeout time.Duration

	// Append is the kernel command line (default "console=ttyS0 panic=-1 quiet").
	Append string
	// MemoryMB and CPUs size the VM (defaults 512 and 1).
	MemoryMB, CPUs int
	// Disks are raw images attached as virtio disks, /dev/vda first. They
	// are the test's own copies: qemu does not sync them to the host's
	// disk (cache=unsafe), which spares a guest's fsyncs.
	Disks []string
	// Serial2 is a file that receives the second serial port (/dev/ttyS1),
	// which no getty touches; "" attaches none.
	Serial2 string
	// HostForward gives the VM a network device (virtio-net, qemu's user
	// networking: the guest is 10.0.2.15) with these forwards from the
	// host, in qemu's hostfwd form ("tcp:127.0.0.1:8443-:443"). Without
	// them the VM has no network device.
	HostForward []string
}

// Run boots the VM (without any network device to the host, unless
// HostForward asks for one) and returns its
// console output when it powers off (or, as qemu runs with -no-reboot,
// asks to reboot). TCG is used because KVM is not usable on these
// machines. On timeout or cancellation qemu is killed.
func (b Boot) Run(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.Qemu, b.args()...)
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

// args is qemu's command line.
func (b Boot) args() []string {
	mem, cpus, appendLine := b.MemoryMB, b.CPUs, b.Append
	if mem == 0 {
		mem = 512
	}
	if cpus == 0 {
		cpus = 1
	}
	if appendLine == "" {
		appendLine = "console=ttyS0 panic=-1 quiet"
	}
	args := []string{
		"-accel", "tcg", "-cpu", "max", "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-display", "none", "-no-reboot",
		"-kernel", b.Kernel, "-initrd", b.Initrd, "-append", appendLine,
	}
	nic := "none"
	if len(b.HostForward) > 0 {
		nic = "user,model=virtio-net-pci"
		for _, f := range b.HostForward {
			nic += ",hostfwd=" + f
		}
	}
	args = append(args, "-nic", nic, "-serial", "stdio")
	if b.Serial2 != "" {
		args = append(args, "-serial", "file:"+b.Serial2)
	}
	for _, d := range b.Disks {
		args = append(args, "-drive", "file="+d+",format=raw,if=virtio,cache=unsafe")
	}
	return args
}

// Result is one line "CASE <name> PASS [(<note>)]" or "CASE <name> FAIL:
// <reason>" that a VM printed.
type Result struct {
	Name   string
	Pass   bool
	Reason string // for a failure
	Note   string // what a pass measured, if it says
}

var caseRE = regexp.MustCompile(`^CASE (\S+) (PASS|FAIL)(?:: (.*)| \((.*)\))?$`)

// ParseResults returns the result lines of a VM's output in order, and
// the reasons of lines starting with abortPrefix (such as "WIFIVM ABORT: "),
// joined. Carriage returns of a serial console are ignored.
func ParseResults(out []byte, abortPrefix string) ([]Result, string) {
	var res []Result
	var abort []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if m := caseRE.FindStringSubmatch(l); m != nil {
			res = append(res, Result{Name: m[1], Pass: m[2] == "PASS", Reason: m[3], Note: m[4]})
			continue
		}
		if r, ok := strings.CutPrefix(l, abortPrefix); ok && abortPrefix != "" {
			abort = append(abort, r)
		}
	}
	return res, strings.Join(abort, "; ")
}

// Check returns an error listing every wanted result that did not pass,
// including those the VM never printed, and the abort reasons. When a name
// was printed more than once, its last line counts.
func Check(want []string, res []Result, abort string) error {
	last := map[string]Result{}
	for _, r := range res {
		last[r.Name] = r
	}
	var errs []error
	for _, name := range want {
		r, ok := last[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("case %s: no result line", name))
		case !r.Pass:
			errs = append(errs, fmt.Errorf("case %s: %s", name, r.Reason))
		}
	}
	if abort != "" {
		errs = append(errs, fmt.Errorf("VM aborted: %s", abort))
	}
	return errors.Join(errs...)
}
