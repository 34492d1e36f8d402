package freshvm

import (
	"bytes"
	"context"
	"debug/elf"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/devmgr/devmgr/internal/testing/vm"
	"github.com/devmgr/devmgr/internal/toolrun"
)

// Want are the result lines the VM must print, in order.
var Want = []string{
	"install", "installed-disabled", "setup",
	"units-enabled-active", "system-not-degraded",
	"console-https", "initial-admin-must-change",
	"wifi-wpa2-associate", "wifi-wpa2-lease", "wifi-wpa2-dns", "wifi-wpa2-nat",
	"wifi-wpa3-sae-associate", "wifi-wpa3-sae-lease", "wifi-wpa3-sae-dns", "wifi-wpa3-sae-nat",
	"console-from-wifi", "console-closed-on-uplink",
	"restart-hostapd", "restart-dnsmasq", "restart-agent", "restart-web",
	"nginx-console", "nginx-throttle-client-address",
	"upgrade-keeps-data", "upgrade-restarts", "purge",
}

// abortPrefix starts a line of a VM that gave up.
const abortPrefix = "FRESHVM ABORT: "

// TestFreshInstall installs the package into a fresh Debian with systemd,
// sets it up, reboots and checks the device end to end (see the package
// comment). Under three minutes with a cached image on two cores; the
// first run also debootstraps and downloads (a few minutes more).
func TestFreshInstall(t *testing.T) {
	testutil.SkipShort(t, "boots a fresh Debian in a VM for minutes")
	testutil.RequireRoot(t)
	qemu := testutil.RequireBinary(t, "qemu-system-x86_64")
	testutil.RequireBinary(t, "debootstrap", "chroot", "mkfs.ext4", "busybox", "depmod", "modprobe", "dpkg-deb", "apt-get", "apt-cache", "make")
	testutil.RequireBinary(t, "unshare", "cp")
	busybox, _ := toolrun.LookPath("busybox")
	if !static(busybox) {
		testutil.Missing(t, "a static busybox for the initramfs (package busybox-static), not %s", busybox)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 14*time.Minute)
	defer cancel()
	run := vm.ExecRunner{}
	root := testutil.ModuleRoot(t)
	tmp := t.TempDir()
	logf := func(format string, args ...any) {
		t.Helper()
		t.Logf("[%s] "+format, append([]any{time.Since(start).Round(100 * time.Millisecond)}, args...)...)
	}

	v1 := packageFor(t, root, "amd64")
	v1Version := debField(t, v1, "Version")
	v2Dir := filepath.Join(tmp, "v2")
	const v2Describe = "freshvm-upgrade-build"
	v2Version := v1Version + "+upgrade1"
	makeDeb(t, root, "DEB_DIR="+v2Dir, "DEB_ARCHES=amd64", "VERSION="+v2Describe, "DEB_VERSION="+v2Version)
	v2 := onlyFile(t, filepath.Join(v2Dir, "devmgr_*_amd64.deb"))
	logf("packages %s and %s", filepath.Base(v1), filepath.Base(v2))

	deps, err := PackageDeps(ctx, run, v1)
	if err != nil {
		t.Fatal(err)
	}
	bootK, err := vm.PrepareKernel(ctx, run, vm.DefaultCacheDir, BootModules)
	if err != nil {
		t.Fatal(err)
	}
	sysK, err := vm.PrepareKernel(ctx, run, vm.DefaultCacheDir, SystemModules)
	if err != nil {
		t.Fatal(err)
	}
	logf("kernel %s", sysK.Version)
	base, err := Image{Kernel: sysK, Deps: deps, CacheDir: vm.DefaultCacheDir, Run: run, Log: logf}.Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	logf("root disk %s (the package's dependencies installed: %s)", filepath.Base(base), strings.Join(deps, ", "))
	disk := filepath.Join(tmp, "disk.img")
	if _, err := run.Run(ctx, "", "cp", "--sparse=always", base, disk); err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(tmp, "initrd")
	if err := Initramfs(ctx, run, bootK, busybox, initrd); err != nil {
		t.Fatal(err)
	}
	payloadDir := filepath.Join(tmp, "payload")
	if err := os.Mkdir(payloadDir, 0o755); err != nil {
		t.Fatal(err)
	}
	payload := filepath.Join(tmp, "payload.img")
	err = Payload{V1: v1, V2: v2, V2Version: v2Version, V2Describe: v2Describe, StageDeadline: 480}.Build(ctx, run, payloadDir, payload)
	if err != nil {
		t.Fatal(err)
	}
	logf("disks ready")

	outDir := filepath.Join(root, "testout")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var results []byte
	vmStart := time.Now()
	for boot := 1; ; boot++ {
		console := filepath.Join(outDir, "freshvm-console-"+string(rune('0'+boot))+".log")
		serial := filepath.Join(tmp, "results.log")
		_, bootErr := vm.Boot{
			Qemu: qemu, Kernel: sysK.Vmlinuz, Initrd: initrd, Console: console, Serial2: serial,
			Append:   "console=ttyS0 panic=-1 net.ifnames=0",
			MemoryMB: 1024, CPUs: 2, Disks: []string{disk, payload},
			Timeout: 9 * time.Minute,
		}.Run(ctx)
		out, _ := os.ReadFile(serial)
		out = bytes.ReplaceAll(out, []byte("\r"), nil)
		results = append(results, out...)
		for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			t.Log(l)
		}
		logf("boot %d ended; console in %s", boot, console)
		if bootErr != nil {
			t.Error(bootErr)
			break
		}
		if bytes.Contains(out, []byte("FRESHVM REBOOT")) && boot < 3 {
			continue
		}
		if !bytes.Contains(out, []byte("FRESHVM DONE")) {
			t.Errorf("boot %d ended without FRESHVM DONE or REBOOT", boot)
		}
		break
	}
	if err := os.WriteFile(filepath.Join(outDir, "freshvm-results.log"), results, 0o644); err != nil {
		t.Error(err)
	}
	res, abort := vm.ParseResults(results, abortPrefix)
	if err := vm.Check(Want, res, abort); err != nil {
		t.Error(err)
	}
	logf("VM ran %s; whole test %s", time.Since(vmStart).Round(time.Second), time.Since(start).Round(time.Second))
}

// TestArm64Package runs the arm64 package's binary under qemu-aarch64
// (qemu-user), so that a cross-build that cannot start is caught: devmgr
// version, and devmgr config check on the package's example config.
func TestArm64Package(t *testing.T) {
	testutil.SkipShort(t, "builds the packages")
	qemu := testutil.RequireBinary(t, "qemu-aarch64")
	testutil.RequireBinary(t, "dpkg-deb", "make")
	deb := packageFor(t, testutil.ModuleRoot(t), "arm64")
	dir := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x %s: %v\n%s", deb, err, out)
	}
	bin := filepath.Join(dir, "usr", "bin", "devmgr")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("%s is for %s, not aarch64", bin, f.Machine)
	}
	f.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"version"}, "devmgr "},
		{[]string{"config", "check", "--config", filepath.Join(dir, "etc", "devmgr", "devmgr.example.yaml")}, ": ok"},
	} {
		out, err := exec.Command(qemu, append([]string{bin}, tc.args...)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("qemu-aarch64 devmgr %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			continue
		}
		t.Logf("qemu-aarch64 devmgr %s: %s", strings.Join(tc.args, " "), strings.TrimSpace(string(out)))
	}
}

var debs struct {
	sync.Once
	dir  string
	made bool // dir is this run's, removed at the end
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if debs.made {
		os.RemoveAll(debs.dir)
	}
	os.Exit(code)
}

// packageFor returns the package for arch that `make deb` built: from
// FRESHVM_DEBS (make test passes it), else built once for this test run.
func packageFor(t *testing.T, root, arch string) string {
	t.Helper()
	debs.Do(func() {
		if d := os.Getenv("FRESHVM_DEBS"); d != "" {
			debs.dir = d
			return
		}
		d, err := os.MkdirTemp("", "freshvm-debs-")
		if err != nil {
			debs.err = err
			return
		}
		debs.dir, debs.made = d, true
		debs.err = runMake(root, "DEB_DIR="+d)
	})
	if debs.err != nil {
		t.Fatal(debs.err)
	}
	return onlyFile(t, filepath.Join(debs.dir, "devmgr_*_"+arch+".deb"))
}

func makeDeb(t *testing.T, root string, vars ...string) {
	t.Helper()
	if err := runMake(root, vars...); err != nil {
		t.Fatal(err)
	}
}

func runMake(root string, vars ...string) error {
	cmd := exec.Command("make", append([]string{"-C", root, "--no-print-directory", "deb"}, vars...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return &makeError{vars: vars, err: err, out: out}
	}
	return nil
}

type makeError struct {
	vars []string
	err  error
	out  []byte
}

func (e *makeError) Error() string {
	return "make deb " + strings.Join(e.vars, " ") + ": " + e.err.Error() + "\n" + string(e.out)
}

// static reports whether the ELF program at path needs no dynamic loader.
func static(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

func onlyFile(t *testing.T, glob string) string {
	t.Helper()
	m, err := filepath.Glob(glob)
	if err != nil || len(m) != 1 {
		t.Fatalf("want one %s, found %q (%v)", glob, m, err)
	}
	return m[0]
}

func debField(t *testing.T, deb, field string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "--field", deb, field).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --field %s %s: %v", deb, field, err)
	}
	return strings.TrimSpace(string(out))
}

func TestGuestScriptsParse(t *testing.T) {
	t.Parallel()
	sh := testutil.RequireBinary(t, "sh")
	err := fs.WalkDir(guest, "guest", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".sh") {
			return err
		}
		b, err := guest.ReadFile(p)
		if err != nil {
			return err
		}
		cmd := exec.Command(sh, "-n")
		cmd.Stdin = bytes.NewReader(b)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", p, err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
