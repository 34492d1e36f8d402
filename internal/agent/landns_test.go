package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/devmgr/devmgr/internal/netif"
)

// The servers-file is readable by dnsmasq (nobody) under the agent's
// UMask=0077. Not parallel: the umask is the process's.
func TestLANDNSFileModeIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	file := filepath.Join(dir, "servers")
	d := NewLANDNS(file, filepath.Join(dir, "dnsmasq.pid"), slog.New(slog.DiscardHandler))
	d.SetApplied(map[string]netif.LinkConfig{"eth1": {Mode: netif.ModeStatic, DNS: []string{"192.0.2.53"}}})
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("servers-file mode %v, want 0644", fi.Mode().Perm())
	}
}
