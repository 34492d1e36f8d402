package freshvm

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/devmgr/devmgr/internal/testing/vm"
)

//go:embed guest
var guest embed.FS

// The Debian the VM runs.
const (
	Suite  = "bookworm"
	Mirror = "http://deb.debian.org/debian"
)

// rootPackages are added to debootstrap's minbase: systemd as PID 1 with
// udev, and the tools the checks use, which a device owner's system would
// not need: wpasupplicant (the station), busybox (udhcpc, nslookup, wget,
// httpd), curl (the console over HTTPS) and procps.
var rootPackages = []string{"systemd-sysv", "udev", "iproute2", "kmod", "wpasupplicant", "busybox", "curl", "procps"}

// standardPackages are what a Debian installed the usual way has and
// debootstrap's minbase lacks, installed into the image: D-Bus, which
// systemd recommends (networkctl, systemctl reboot's logind call and
// wpa_supplicant.service need it).
var standardPackages = []string{"dbus"}

// BootModules are what the initramfs loads to mount the root disk.
var BootModules = vm.Modules{Names: []string{"virtio_pci", "virtio_blk", "crc32c_generic", "ext4"}}

// SystemModules are the modules in the image, loaded by the system as a
// device's would be: the simulated radios (modules-load.d, two radios via
// modprobe.d), the crypto CCMP and SAE need, nftables with conntrack and
// NAT for devmgr's ruleset, veth for the uplink, what systemd and the
// agent ask for.
var SystemModules = vm.Modules{Names: []string{
	"mac80211_hwsim",
	"ctr", "ccm", "gf128mul", "ghash-generic", "gcm", "cmac", "seqiv",
	"nf_tables", "nft_ct", "nft_chain_nat", "nft_masq", "nft_reject_inet",
	"xfrm_user", "veth", "autofs4",
	"virtio_net", // the demo's network device (make run DEVICE=vm)
}}

// Names inside the VM that the scaffolding and the checks share.
const (
	apInterface  = "wlan0" // the first radio: setup must offer it first
	staInterface = "wlan1" // the second radio: the station, moved into a namespace
	uplink       = "up0"   // made by freshvm-uplink.service
)

// rootRecipe and imageRecipe change when the way the Debian root or the
// disk image is made changes (beyond the inputs their keys hold), so that
// cached ones made the old way are made anew.
const (
	rootRecipe  = "freshvm-2"
	imageRecipe = "freshvm-3"
)

func key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Image is the VM's root disk before anything of devmgr is on it.
type Image struct {
	// Kernel is Debian's kernel prepared with SystemModules.
	Kernel vm.Kernel
	// Deps are the package's Depends and Recommends: the image has them
	// installed (with their own dependencies), so that `apt install
	// ./devmgr_*.deb` in the VM, which has no network, installs devmgr.
	Deps     []string
	CacheDir string
	Run      vm.Runner
	// Log reports the slow steps (debootstrap, the image).
	Log func(format string, args ...any)
}

// Build returns the path of the cached root disk image (raw ext4), made
// if its inputs changed: a debootstrapped Debian (cached by itself), the
// kernel's modules with depmod's tables, the dependencies in apt's cache
// and the test's scaffolding.
func (img Image) Build(ctx context.Context) (string, error) {
	rootKey := key(rootRecipe, Suite, Mirror, strings.Join(rootPackages, ","))
	root, err := vm.Cached(img.CacheDir, "freshvm-root", rootKey, "", func(tmp string) error {
		img.Log("debootstrap %s (minbase, %s) into the cache; once per change of its inputs", Suite, strings.Join(rootPackages, ","))
		_, err := img.Run.Run(ctx, "", "debootstrap", "--variant=minbase", "--include="+strings.Join(rootPackages, ","), Suite, tmp, Mirror)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("making the Debian root: %w", err)
	}
	scaffold, err := scaffolding()
	if err != nil {
		return "", err
	}
	var mods []string
	for _, m := range img.Kernel.Insmod {
		mods = append(mods, m.File)
	}
	parts := []string{imageRecipe, rootKey, img.Kernel.Version, strings.Join(mods, ","), strings.Join(img.Deps, ","), strings.Join(standardPackages, ",")}
	for _, n := range slices.Sorted(maps.Keys(scaffold)) {
		parts = append(parts, n, string(scaffold[n].data))
	}
	return vm.Cached(img.CacheDir, "freshvm-base", key(parts...), ".img", func(tmp string) error {
		img.Log("making the VM's root disk from the cached root")
		return img.make(ctx, root, scaffold, tmp)
	})
}

func (img Image) make(ctx context.Context, cachedRoot string, scaffold map[string]file, out string) error {
	work, err := os.MkdirTemp(filepath.Dir(out), "root-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	root := filepath.Join(work, "root")
	run := func(argv ...string) error {
		_, err := img.Run.Run(ctx, "", argv[0], argv[1:]...)
		return err
	}
	if err := run("cp", "-a", cachedRoot, root); err != nil {
		return fmt.Errorf("copying the Debian root: %w", err)
	}
	// The kernel's modules, where modprobe (and the kernel's request for
	// a module) finds them.
	k := img.Kernel
	modDir := filepath.Join(root, "lib", "modules", k.Version)
	if err := os.MkdirAll(filepath.Join(modDir, "kernel", "extra"), 0o755); err != nil {
		return err
	}
	for _, m := range k.Insmod {
		if err := run("cp", filepath.Join(k.Dir, "modules", m.File), filepath.Join(modDir, "kernel", "extra", m.File)); err != nil {
			return fmt.Errorf("installing modules: %w", err)
		}
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo"} {
		if err := run("cp", filepath.Join(k.Dir, f), filepath.Join(modDir, f)); err != nil {
			return fmt.Errorf("installing modules: %w", err)
		}
	}
	if err := run("depmod", "-b", root, k.Version); err != nil {
		return fmt.Errorf("installing modules: %w", err)
	}
	// The package's dependencies (its Depends and Recommends, as apt
	// resolves them against this very root), installed now at native
	// speed: unpacked and configured under emulation they cost minutes.
	// The VM's `apt install ./devmgr_*.deb` then installs devmgr alone,
	// with systemd running; a dependency the package fails to declare is
	// missing there. policy-rc.d keeps the packages' scripts from starting
	// daemons, and /proc is mounted in a mount namespace of its own.
	if err := run("cp", "/etc/resolv.conf", filepath.Join(root, "etc", "resolv.conf")); err != nil {
		return err
	}
	policy := filepath.Join(root, "usr", "sbin", "policy-rc.d")
	if err := os.WriteFile(policy, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		return err
	}
	// apt's binary cache is made again after the clean: reading the lists
	// into it under emulation takes the VM's apt half a minute.
	install := "mount -t proc proc /proc && DEBIAN_FRONTEND=noninteractive apt-get install -y -q " +
		strings.Join(append(slices.Clone(standardPackages), img.Deps...), " ") + " && apt-get clean && apt-cache gencaches"
	if err := run("unshare", "--mount", "--propagation", "private", "--fork", "chroot", root, "/bin/sh", "-c", install); err != nil {
		return fmt.Errorf("installing the package's dependencies: %w", err)
	}
	if err := os.Remove(policy); err != nil {
		return err
	}
	for name, f := range scaffold {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return err
		}
	}
	// apt's timers would take the dpkg lock while the test installs; the
	// station's wpa_supplicant is the checks' own.
	if err := run("chroot", root, "systemctl", "disable", "apt-daily.timer", "apt-daily-upgrade.timer", "wpa_supplicant.service"); err != nil {
		return err
	}
	if err := run("chroot", root, "systemctl", "enable", "freshvm-uplink.service", "freshvm-run.service"); err != nil {
		return err
	}
	if err := vm.Ext4Image(ctx, img.Run, root, out, "freshvm", 2<<30); err != nil {
		return fmt.Errorf("making the root disk: %w", err)
	}
	return nil
}

type file struct {
	data []byte
	mode fs.FileMode
}

// scaffolding are the files the test adds to the image, by path.
func scaffolding() (map[string]file, error) {
	uplinkScript, err := guest.ReadFile("guest/uplink.sh")
	if err != nil {
		return nil, err
	}
	runScript, err := guest.ReadFile("guest/run.sh")
	if err != nil {
		return nil, err
	}
	modules := strings.Join(SystemModules.Names, "\n") + "\n"
	return map[string]file{
		"etc/hostname":                    {[]byte("freshvm\n"), 0o644},
		"etc/hosts":                       {[]byte("127.0.0.1 localhost\n127.0.1.1 freshvm\n"), 0o644},
		"etc/fstab":                       {[]byte("/dev/vda / ext4 rw 0 0\n"), 0o644},
		"etc/resolv.conf":                 {nil, 0o644},
		"etc/modules-load.d/freshvm.conf": {[]byte("# The simulated radios stand for the device's WiFi card.\n" + modules), 0o644},
		// The AP's radio and two stations' (the demo keeps two associated).
		"etc/modprobe.d/freshvm.conf": {[]byte("options mac80211_hwsim radios=3\n"), 0o644},
		// The disk is a throwaway copy: dpkg's fsyncs would only cost time
		// under emulation.
		"etc/dpkg/dpkg.cfg.d/freshvm":   {[]byte("force-unsafe-io\n"), 0o644},
		"srv/upstream/index.html":       {[]byte("upstream-ok"), 0o644},
		"usr/local/sbin/freshvm-uplink": {uplinkScript, 0o755},
		"usr/local/sbin/freshvm-run":    {runScript, 0o755},
		"etc/systemd/system/freshvm-uplink.service": {[]byte(`[Unit]
Description=freshvm: the uplink, a veth pair to the namespace "upstream"
After=systemd-udevd.service
Before=network.target freshvm-run.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/freshvm-uplink

[Install]
WantedBy=multi-user.target
`), 0o644},
		"etc/systemd/system/freshvm-run.service": {[]byte(`[Unit]
Description=freshvm: the test on the payload disk
After=multi-user.target freshvm-uplink.service

[Service]
Type=exec
ExecStart=/usr/local/sbin/freshvm-run

[Install]
WantedBy=multi-user.target
`), 0o644},
	}, nil
}

// Initramfs writes the VM's initramfs to out: a static busybox and the
// boot modules of k (BootModules), whose /init mounts the root disk and
// starts systemd.
func Initramfs(ctx context.Context, run vm.Runner, k vm.Kernel, busybox, out string) error {
	a := vm.NewArchive()
	for _, d := range []string{"proc", "sys", "dev", "newroot", "etc/freshvm"} {
		a.Dir(d, 0o755)
	}
	a.CharDev("dev/console", 0o600, 5, 1)
	a.CharDev("dev/null", 0o666, 1, 3)
	if err := a.AddBusybox(ctx, run, busybox); err != nil {
		return err
	}
	var list strings.Builder
	for _, m := range k.Insmod {
		if err := a.HostFile("/lib/modules/"+m.File, 0o644, filepath.Join(k.Dir, "modules", m.File)); err != nil {
			return fmt.Errorf("building initramfs: %w", err)
		}
		fmt.Fprintf(&list, "%s %s\n", m.File, m.Params)
	}
	a.File("etc/freshvm/modules", 0o644, []byte(list.String()))
	initScript, err := guest.ReadFile("guest/init.sh")
	if err != nil {
		return err
	}
	a.File("init", 0o755, initScript)
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("writing initramfs: %w", err)
	}
	if _, err := a.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// PackageDeps are the names in a package's Depends and Recommends, which
// the image installs.
func PackageDeps(ctx context.Context, run vm.Runner, deb string) ([]string, error) {
	var deps []string
	for _, f := range []string{"Depends", "Recommends"} {
		out, err := run.Run(ctx, "", "dpkg-deb", "--field", deb, f)
		if err != nil {
			return nil, fmt.Errorf("reading %s of %s: %w", f, deb, err)
		}
		for _, d := range strings.Split(string(out), ",") {
			if name := strings.Fields(d); len(name) > 0 {
				deps = append(deps, name[0])
			}
		}
	}
	return deps, nil
}
