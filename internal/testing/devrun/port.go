package devrun

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// checkListen makes sure the console's address is free before anything
// starts: a second `make run` must not probe the first one's console and
// announce itself ready. When the port is taken it says which process
// holds it.
func checkListen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln.Close()
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("checking %s: %w", addr, err)
	}
	_, port, _ := net.SplitHostPort(addr)
	who := "another program"
	if pid, cmd, ok := portHolder(port); ok {
		who = fmt.Sprintf("process %d (%s)", pid, cmd)
	}
	return fmt.Errorf("%s is in use by %s: stop it, or choose another port (make run PORT=9443)", addr, who)
}

// portHolder finds the process listening on TCP port (decimal) through
// /proc: the socket's inode from /proc/net/tcp{,6}, then the process with
// a descriptor on it. It finds only what this user may see.
func portHolder(port string) (pid int, cmdline string, ok bool) {
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0, "", false
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		listeningInodes(f, p, inodes)
	}
	if len(inodes) == 0 {
		return 0, "", false
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		target, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(target, "socket:[") {
			continue
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] {
			dir := filepath.Dir(filepath.Dir(fd))
			pid, _ = strconv.Atoi(filepath.Base(dir))
			b, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
			return pid, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")), true
		}
	}
	return 0, "", false
}

// listeningInodes adds the inodes of sockets listening on port in a
// /proc/net/tcp-style table.
func listeningInodes(table string, port int, into map[string]bool) {
	f, err := os.Open(table)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		// sl local_address rem_address st ... inode (field 9)
		if len(fs) < 10 || fs[3] != "0A" { // 0A: LISTEN
			continue
		}
		_, hexPort, ok := strings.Cut(fs[1], ":")
		if n, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && int(n) == port {
			into[fs[9]] = true
		}
	}
}
