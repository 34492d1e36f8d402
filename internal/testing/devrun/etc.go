package devrun

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/testing/lab"
)

// EtcOverlayCommand is the hidden command of devmgr-dev that runs the lab's
// agent (EtcOverlayExec): devmgr-dev etc-overlay --upper U --work W -- ARGV.
const EtcOverlayCommand = "etc-overlay"

// The agent in the lab sees this machine's /etc with an overlay on it
// whose upper layer is DIR/lab/root/etc, in a mount namespace of its own:
// what it writes there as on a device (apmgr's /etc/hostapd/devmgr.conf and
// devmgr.deny) lands in that directory, never in this machine's /etc, and
// the lab adds what a device's /etc would hold.
type etcLayer struct {
	root  string // root/etc is the upper layer: the files as root's paths name them
	upper string
	work  string // overlayfs's work directory, on the same filesystem
}

func newEtcLayer(dir string) etcLayer {
	root := filepath.Join(dir, "lab", "root")
	return etcLayer{root: root, upper: filepath.Join(root, "etc"), work: filepath.Join(dir, "lab", "work")}
}

// prepare makes the layer afresh: hostapd's config and deny list as devmgr
// provision installs them (ap, with the agent's control directory
// ctrlDir), and a resolv.conf naming the upstream's DNS server, as the
// uplink's DHCP lease gives it to a device. The agent re-installs the
// settings saved from the console at start (apmgr.Sync).
func (e etcLayer) prepare(ap config.AP, ctrlDir string) error {
	if err := os.RemoveAll(filepath.Dir(e.root)); err != nil {
		return fmt.Errorf("removing the lab's /etc layer: %w", err)
	}
	for _, d := range []string{filepath.Join(e.root, filepath.Dir(device.HostapdConf)), e.work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	conf, deny, err := renderHostapd(ap, ctrlDir)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		b    []byte
		mode os.FileMode
	}{
		{"/etc/resolv.conf", []byte("# devmgr-dev run: the lab's upstream (its dnsmasq answers " + lab.UpstreamName + ")\nnameserver " + lab.UpstreamIP + "\n"), 0o644},
		{device.HostapdConf, conf, 0o600},
		{device.HostapdDeny, deny, 0o644},
	} {
		if err := os.WriteFile(filepath.Join(e.root, f.path), f.b, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// argv is argv run under the layer by self (devmgr-dev's
// EtcOverlayCommand).
func (e etcLayer) argv(self string, argv ...string) []string {
	return append([]string{self, EtcOverlayCommand, "--upper", e.upper, "--work", e.work, "--"}, argv...)
}

// EtcOverlayExec runs argv (execs it, so it returns only on error) with an
// overlay on /etc whose upper layer is upper, in a new mount namespace of
// which nothing propagates back: this machine's /etc is never written.
func EtcOverlayExec(upper, work string, argv []string) error {
	if len(argv) == 0 {
		return errors.New("etc-overlay: no command to run")
	}
	for _, p := range []string{upper, work} {
		if !filepath.IsAbs(p) || strings.ContainsAny(p, ",:\\") {
			return fmt.Errorf("etc-overlay: %q must be an absolute path without , : or \\ (overlayfs options)", p)
		}
	}
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	// The mount namespace is this thread's; the exec below keeps it. The
	// caller runs this on the main thread (runtime.LockOSThread in an init
	// of package main), the one that keeps the parent-death signal too.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("etc-overlay: making a mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("etc-overlay: making the mounts private: %w", err)
	}
	opts := "lowerdir=/etc,upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", "/etc", "overlay", 0, opts); err != nil {
		return fmt.Errorf("etc-overlay: mounting an overlay on /etc (%s): %w", opts, err)
	}
	return unix.Exec(bin, argv, os.Environ())
}
