package wifivm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/devmgr/devmgr/internal/testing/vm"
)

//go:embed init.sh
var initScript []byte

// Setup selects how the AP is brought up inside the VM.
type Setup string

const (
	// SetupProvision runs `devmgr provision --config C --root /`, which
	// renders, checks and installs the system files and, without systemd,
	// supervises hostapd and dnsmasq (and devmgr's own services).
	SetupProvision Setup = "provision"
	// SetupDirect installs the configs rendered on the host by devmgr's
	// renderers and starts hostapd and dnsmasq from /init.
	SetupDirect Setup = "direct"
)

// Modules are the kernel modules the VM loads: the simulated radios
// (three: the AP, its station and an intruder with a wrong passphrase); the
// crypto that CCMP, GCMP and BIP need (without it hostapd fails with
// "nl80211: kernel reports: key addition failed"); nftables with conntrack
// and NAT for devmgr's ruleset; and what the agent needs. The VM has no
// modprobe to load modules on demand.
var Modules = vm.Modules{
	Names: []string{
		"mac80211_hwsim",
		"ctr", "ccm", "gf128mul", "ghash-generic", "gcm", "cmac", "seqiv",
		"nf_tables", "nft_ct", "nft_chain_nat", "nft_masq", "nft_reject_inet",
		// A netlink handle for every family (vishvananda/netlink's default)
		// needs NETLINK_XFRM, which a full system loads on demand.
		"xfrm_user",
	},
	Params: map[string]string{"mac80211_hwsim": "radios=3"},
}

// Image describes the VM's initramfs.
type Image struct {
	Kernel vm.Kernel
	// Devmgr is the static devmgr binary, installed as
	// /usr/local/bin/devmgr (where provision's units expect it).
	Devmgr string
	Cases  []Case
	Setup  Setup
	// Deadline in seconds after which the VM powers itself off.
	Deadline int
	// Debug makes /init show devmgr provision's log for passing cases too.
	Debug bool
	// CacheDir keeps the compressed base of the image (everything but
	// devmgr and the cases) between runs; "" builds it every time.
	CacheDir string
	// LookPath finds host programs (toolrun.LookPath in tests).
	LookPath func(string) (string, error)
}

// hostPrograms are copied from the host with their libraries, to the same path.
var hostPrograms = []string{"hostapd", "hostapd_cli", "wpa_supplicant", "wpa_cli", "dnsmasq", "iw", "ip", "nft"}

// checkPrograms are the tools `devmgr provision` checks rendered files with
// and prepares the system with; they are copied when the host has them.
var checkPrograms = []string{"systemd-analyze", "systemd-tmpfiles", "systemd-sysusers", "nginx"}

// BuildInitramfs writes the initramfs to out: two cpio archives one after
// the other, which the kernel unpacks in turn. The first, the base
// (busybox, the daemons and their libraries, modules, regulatory
// database), is gzipped and cached in img.CacheDir under a key of its
// inputs; the second holds what changes between runs: devmgr, the cases
// and /init.
func BuildInitramfs(ctx context.Context, run vm.Runner, img Image, out string) error {
	base, err := baseArchive(ctx, run, img)
	if err != nil {
		return err
	}
	baseGz, err := cachedGzip(base, img.CacheDir)
	if err != nil {
		return err
	}
	top, err := runArchive(img)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("writing initramfs: %w", err)
	}
	defer f.Close()
	// The kernel takes an uncompressed archive only at a 4-byte boundary,
	// and skips the zeros that pad it there.
	pad := make([]byte, (4-len(baseGz)%4)%4)
	if _, err := f.Write(append(baseGz[:len(baseGz):len(baseGz)], pad...)); err != nil {
		return fmt.Errorf("writing initramfs: %w", err)
	}
	// The second archive stays uncompressed: compressing devmgr each run
	// costs more on the host than it saves the VM.
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := top.WriteTo(w); err != nil {
		return fmt.Errorf("writing initramfs: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing initramfs: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing initramfs: %w", err)
	}
	return nil
}

func baseArchive(ctx context.Context, run vm.Runner, img Image) (*vm.Archive, error) {
	a := vm.NewArchive()
	for _, d := range []string{"proc", "sys", "dev", "run", "root", "etc/hostapd", "etc/devmgr", "var/lib/misc", "var/lib/devmgr"} {
		a.Dir(d, 0o755)
	}
	a.Dir("tmp", 0o1777)
	a.Symlink("var/run", "../run")
	a.CharDev("dev/console", 0o600, 5, 1)
	a.CharDev("dev/null", 0o666, 1, 3)

	busybox, err := img.LookPath("busybox")
	if err != nil {
		return nil, fmt.Errorf("building initramfs: busybox: %w", err)
	}
	// iproute2's ip is needed for netns.
	if err := a.AddBusybox(ctx, run, busybox, "/sbin/ip"); err != nil {
		return nil, err
	}
	progs := hostPrograms
	for _, p := range checkPrograms {
		if _, err := img.LookPath(p); err == nil {
			progs = append(progs[:len(progs):len(progs)], p)
		}
	}
	libs := map[string]bool{}
	for _, p := range progs {
		path, err := img.LookPath(p)
		if err != nil {
			return nil, fmt.Errorf("building initramfs: %s: %w", p, err)
		}
		if err := a.HostFile(path, 0o755, path); err != nil {
			return nil, fmt.Errorf("building initramfs: %w", err)
		}
		// Debian's sbin programs sit in /usr/sbin; /sbin is a symlink on
		// merged-/usr hosts, so give both names.
		if dst := "/sbin/" + filepath.Base(path); !a.Has(dst) && dst != path {
			a.Symlink(dst, path)
		}
		ls, err := sharedLibs(ctx, run, path)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			libs[l] = true
		}
	}
	for l := range libs {
		if err := a.HostFile(l, 0o755, l); err != nil {
			return nil, fmt.Errorf("building initramfs: %w", err)
		}
	}
	if err := addRegdb(a); err != nil {
		return nil, err
	}
	// systemd-analyze verify resolves the targets devmgr's units name.
	targets, _ := filepath.Glob("/usr/lib/systemd/system/*.target")
	for _, t := range targets {
		if err := a.HostFile(t, 0o644, t); err != nil {
			return nil, fmt.Errorf("building initramfs: %w", err)
		}
	}
	// dnsmasq drops privileges to an account; the console runs as devmgr.
	a.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"+
		"dnsmasq:x:100:65534:dnsmasq:/var/lib/misc:/bin/false\n"+
		"devmgr:x:101:101:devmgr:/var/lib/devmgr:/bin/false\n"+
		"www-data:x:33:33:www-data:/var/www:/bin/false\n"+
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
	a.File("etc/group", 0o644, []byte("root:x:0:\ndip:x:30:\nwww-data:x:33:\ndevmgr:x:101:\nnogroup:x:65534:\n"))
	a.File("etc/resolv.conf", 0o644, nil)
	a.File("etc/hosts", 0o644, []byte("127.0.0.1 localhost\n"))

	var mods strings.Builder
	for _, m := range img.Kernel.Insmod {
		if err := a.HostFile("/lib/modules/"+m.File, 0o644, filepath.Join(img.Kernel.Dir, "modules", m.File)); err != nil {
			return nil, fmt.Errorf("building initramfs: %w", err)
		}
		fmt.Fprintf(&mods, "%s %s\n", m.File, m.Params)
	}
	a.File("etc/wifivm/modules", 0o644, []byte(mods.String()))
	return a, nil
}

// runArchive holds what changes from run to run.
func runArchive(img Image) (*vm.Archive, error) {
	a := vm.NewArchive()
	if err := a.HostFile("/usr/local/bin/devmgr", 0o755, img.Devmgr); err != nil {
		return nil, fmt.Errorf("building initramfs: %w", err)
	}
	a.Symlink("/usr/bin/devmgr", "/usr/local/bin/devmgr")
	for i, c := range img.Cases {
		files, err := caseFiles(c)
		if err != nil {
			return nil, err
		}
		dir := fmt.Sprintf("etc/wifivm/cases/%02d", i+1)
		for n, b := range files {
			a.File(dir+"/"+n, 0o600, b)
		}
	}
	debug := ""
	if img.Debug {
		debug = "1"
	}
	env := fmt.Sprintf("WIFIVM_DEBUG=%s\nSETUP=%s\nVM_DEADLINE=%d\nAP_IF=%s\nAP_ADDR=%s\nFQDN=%s\nCTRL_DIR=%s\nLEASES=%s\n",
		debug, img.Setup, img.Deadline, vmAPIface, vmAPAddress, vmFQDN, vmCtrlDir, vmLeaseFile)
	a.File("etc/wifivm/env", 0o644, []byte(env))
	a.File("etc/wifivm/udhcpc.script", 0o755, vm.UdhcpcScript)
	a.File("etc/wifivm/lib.sh", 0o644, vm.GuestLib)
	a.File("init", 0o755, initScript)
	return a, nil
}

func gzipArchive(a *vm.Archive) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, fmt.Errorf("compressing initramfs: %w", err)
	}
	if _, err := a.WriteTo(zw); err != nil {
		return nil, fmt.Errorf("compressing initramfs: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing initramfs: %w", err)
	}
	return buf.Bytes(), nil
}

// cachedGzip returns a compressed, from cacheDir when an archive with the
// same key was compressed before.
func cachedGzip(a *vm.Archive, cacheDir string) ([]byte, error) {
	if cacheDir == "" {
		return gzipArchive(a)
	}
	path, err := vm.Cached(cacheDir, "initramfs-base", a.Key()[:16], ".cpio.gz", func(tmp string) error {
		b, err := gzipArchive(a)
		if err != nil {
			return err
		}
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return fmt.Errorf("caching initramfs base: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading cached initramfs base: %w", err)
	}
	return b, nil
}

var lddRE = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x`)

// sharedLibs lists the libraries ldd names for prog, the dynamic loader included.
func sharedLibs(ctx context.Context, run vm.Runner, prog string) ([]string, error) {
	out, err := run.Run(ctx, "", "ldd", prog)
	if err != nil {
		if strings.Contains(err.Error(), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("listing libraries of %s: %w", prog, err)
	}
	var libs []string
	for _, l := range strings.Split(string(out), "\n") {
		if m := lddRE.FindStringSubmatch(l); m != nil {
			libs = append(libs, m[1])
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("listing libraries of %s: none in %q", prog, out)
	}
	return libs, nil
}

// addRegdb installs Debian's signed regulatory database where cfg80211
// looks for it.
func addRegdb(a *vm.Archive) error {
	for _, f := range []struct{ dst, src, alt string }{
		{"/lib/firmware/regulatory.db", "/lib/firmware/regulatory.db-debian", "/lib/firmware/regulatory.db"},
		{"/lib/firmware/regulatory.db.p7s", "/lib/firmware/regulatory.db.p7s-debian", "/lib/firmware/regulatory.db.p7s"},
	} {
		src := f.src
		if _, err := os.Stat(src); err != nil {
			src = f.alt
		}
		if err := a.HostFile(f.dst, 0o644, src); err != nil {
			return fmt.Errorf("regulatory database (package wireless-regdb): %w", err)
		}
	}
	return nil
}
