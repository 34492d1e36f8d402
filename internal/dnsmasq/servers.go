package dnsmasq

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// DefaultServersFile is the servers-file the agent writes: the DNS servers
// of the LAN interfaces, which dnsmasq forwards to beside those of the
// system's resolv.conf. Its directory is world-readable because dnsmasq
// reads the file again on SIGHUP, after dropping root, and may not traverse
// /run/devmgr; it is a directory of its own, not /run itself, so that the
// sandboxed agent can replace the file atomically (temp file and rename)
// without write access to all of /run.
const DefaultServersFile = "/run/devmgr-dns/servers"

// Server is one upstream DNS server and the interface whose config or
// lease named it.
type Server struct {
	Addr      netip.Addr
	Interface string
}

// RenderServers returns a servers-file naming each server once, in the
// order given (the first interface to name a server keeps it).
func RenderServers(servers []Server) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by the devmgr agent: DNS servers of the LAN interfaces.\n")
	seen := map[netip.Addr]bool{}
	for _, s := range servers {
		a := s.Addr.Unmap()
		if !a.IsValid() || seen[a] {
			continue
		}
		seen[a] = true
		fmt.Fprintf(&b, "server=%s # %s\n", a, commentSafe(s.Interface))
	}
	return b.Bytes()
}

// commentSafe keeps an interface name on its comment line.
func commentSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// ErrNotRunning: no dnsmasq runs under the pid file; it reads the servers
// file when it starts.
var ErrNotRunning = errors.New("dnsmasq is not running")

// Reload makes the dnsmasq whose pid is in pidFile read its servers-file
// again (SIGHUP). The process must be dnsmasq: a stale pid file naming
// another process gets ErrNotRunning, and no signal is sent.
func Reload(pidFile string) error {
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotRunning
	}
	if err != nil {
		return fmt.Errorf("reading dnsmasq's pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("dnsmasq's pid file %s holds %q, not a process id", pidFile, bytes.TrimSpace(b))
	}
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "dnsmasq" {
		return ErrNotRunning
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return ErrNotRunning
		}
		return fmt.Errorf("signalling dnsmasq (pid %d): %w", pid, err)
	}
	return nil
}
