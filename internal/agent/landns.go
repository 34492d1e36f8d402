package agent

import (
	"bytes"
	"cmp"
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"

	"github.com/google/renameio/v2"

	"github.com/devmgr/devmgr/internal/dhcp"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/netif"
)

// LANDNS keeps the AP's dnsmasq forwarding to the DNS servers of the LAN
// interfaces: those of a static config and those of a DHCP lease. It writes
// them to dnsmasq's servers-file, atomically and only when they change,
// and signals dnsmasq to read it again. A change that is rolled back takes
// its servers with it, since the Changer reports the configs in force.
// With no file it does nothing. `devmgr agent` feeds it from the DHCP
// manager (SetLease) and the Changer (SetApplied).
type LANDNS struct {
	file, pidFile string
	log           *slog.Logger

	mu     sync.Mutex
	static map[string][]string // interface → servers of its static config
	leased map[string][]string // interface → servers of its DHCP lease
}

// NewLANDNS writes the servers to file ("": nowhere) and signals the
// dnsmasq whose pid is in pidFile ("": dnsmasq.DefaultPIDFile).
func NewLANDNS(file, pidFile string, log *slog.Logger) *LANDNS {
	return &LANDNS{file: file, pidFile: cmp.Or(pidFile, dnsmasq.DefaultPIDFile), log: log,
		static: map[string][]string{}, leased: map[string][]string{}}
}

// SetApplied is netif.Config.OnApplied.
func (d *LANDNS) SetApplied(applied map[string]netif.LinkConfig) {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.static)
	for name, lc := range applied {
		if lc.Mode == netif.ModeStatic && len(lc.DNS) > 0 {
			d.static[name] = slices.Clone(lc.DNS)
		}
	}
	d.flushLocked()
}

// SetLease is dhcp.Config.OnLease: the servers of name's lease, or none
// when ok is false (the lease is given up).
func (d *LANDNS) SetLease(name string, l dhcp.Lease, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ok && len(l.DNS) > 0 {
		d.leased[name] = slices.Clone(l.DNS)
	} else {
		delete(d.leased, name)
	}
	d.flushLocked()
}

// flushLocked writes the servers-file when its contents change, then has
// dnsmasq read it.
func (d *LANDNS) flushLocked() {
	if d.file == "" {
		return
	}
	names := make([]string, 0, len(d.static)+len(d.leased))
	for n := range d.static {
		names = append(names, n)
	}
	for n := range d.leased {
		names = append(names, n)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	var servers []dnsmasq.Server
	for _, n := range names {
		for _, s := range append(slices.Clone(d.static[n]), d.leased[n]...) {
			if a, err := netip.ParseAddr(s); err == nil {
				servers = append(servers, dnsmasq.Server{Addr: a, Interface: n})
			}
		}
	}
	b := dnsmasq.RenderServers(servers)
	if cur, err := os.ReadFile(d.file); err == nil && bytes.Equal(cur, b) {
		return
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.log.Warn("reading the LAN DNS servers file", "file", d.file, "err", err)
	}
	// 0644 whatever the umask (the agent's unit has UMask=0077): dnsmasq
	// reads it again after dropping root.
	if err := renameio.WriteFile(d.file, b, 0o644, renameio.WithStaticPermissions(0o644)); err != nil {
		d.log.Error("writing the LAN DNS servers for dnsmasq", "file", d.file, "err", err)
		return
	}
	d.log.Info("LAN DNS servers for the access point", "servers", len(servers), "file", d.file)
	switch err := dnsmasq.Reload(d.pidFile); {
	case errors.Is(err, dnsmasq.ErrNotRunning):
		d.log.Debug("dnsmasq is not running; it reads the servers when it starts", "pid_file", d.pidFile)
	case err != nil:
		d.log.Error("telling dnsmasq of the LAN DNS servers", "err", err)
	}
}
