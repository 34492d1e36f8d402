package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a process this program started, in its own process group.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startProc starts cmd in a new process group, with a parent-death signal,
// as cred when set.
func startProc(name string, cmd *exec.Cmd, cred *syscall.Credential) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM, Credential: cred}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM, then after grace SIGKILL to the whole group, and
// waits. Calling it again does nothing.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			log.Printf("%s did not stop in %s: killing it", p.name, grace)
			_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
			<-p.done
		}
	}
	// Whatever is left in its group goes too.
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
}

func (p *proc) exited() error {
	if p.err != nil {
		return fmt.Errorf("%s exited: %w", p.name, p.err)
	}
	return fmt.Errorf("%s exited", p.name)
}

// children returns the pids whose parent is pid.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(n); err == nil && st.ppid == pid {
			out = append(out, n)
		}
	}
	return out
}

// cmdline is /proc/PID/cmdline split into arguments.
func cmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// procStat is the part of /proc/PID/stat used here.
type procStat struct {
	ppid int
	// cminflt: minor faults of the children the process has waited for.
	// Every started program faults in hundreds of pages, so it grows with
	// each child reaped: a process that runs no program keeps it still.
	cminflt uint64
	// cpu is user + system time of the process and of its reaped
	// children, in clock ticks.
	cpu uint64
}

// clockTick is USER_HZ, 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// comm may contain spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): field N is f[N-3].
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	var st procStat
	st.ppid, _ = strconv.Atoi(f[1])
	st.cminflt, _ = strconv.ParseUint(f[11-3], 10, 64)
	for _, n := range f[14-3 : 17-3+1] { // utime stime cutime cstime
		v, _ := strconv.ParseUint(n, 10, 64)
		st.cpu += v
	}
	return st, nil
}

// statusKB returns a "Name: N kB" field of /proc/PID/status, in KiB.
func statusKB(pid int, field string) uint64 {
	return fieldKB(fmt.Sprintf("/proc/%d/status", pid), field)
}

// pssKB is the proportional set size (shared pages divided among their
// users), which does not count a forked worker's shared pages twice.
func pssKB(pid int) uint64 {
	return fieldKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss")
}

func fieldKB(path, field string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		n, _ := strconv.ParseUint(strings.Fields(v)[0], 10, 64)
		return n
	}
	return 0
}

// forksTotal is the "processes" line of /proc/stat: forks since boot,
// system-wide.
func forksTotal() uint64 {
	b, _ := os.ReadFile("/proc/stat")
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "processes "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// installPackages installs Debian packages (root only).
func installPackages(ctx context.Context, pkgs ...string) error {
	log.Printf("installing %s (apt-get)", strings.Join(pkgs, " "))
	args := append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apt-get install %s: %w\n%s", strings.Join(pkgs, " "), err, tail(out.Bytes(), 20))
	}
	return nil
}

// tail is the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lineWatcher copies lines to w and reports each on a channel.
func lineWatcher(r io.Reader, w io.Writer) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			fmt.Fprintln(w, sc.Text())
			select {
			case ch <- sc.Text():
			default:
			}
		}
	}()
	return ch
}
