package wifivm

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/devmgr/devmgr/internal/testing/vm"
	"github.com/devmgr/devmgr/internal/toolrun"
)

// TestRealWiFi boots Debian's kernel in qemu with mac80211_hwsim and proves,
// over a real 802.11 stack, that the access point devmgr provisions takes a
// station with WPA2, WPA3-SAE and transition mode, gives it a lease and a
// name, lists it in `devmgr ap status`, and refuses a wrong passphrase. It
// takes about a minute on an idle machine; the full console is saved as
// testout/wifivm-console.log.
func TestRealWiFi(t *testing.T) {
	if testing.Short() && !testutil.InCI() {
		t.Skip("boots a VM for about a minute; skipped with -short (never under CI)")
	}
	testutil.RequireRoot(t)
	qemu := testutil.RequireBinary(t, "qemu-system-x86_64")
	testutil.RequireBinary(t, "hostapd", "hostapd_cli", "wpa_supplicant", "wpa_cli", "dnsmasq", "iw", "ip", "nft",
		"busybox", "depmod", "modprobe", "dpkg-deb", "apt-get", "apt-cache", "ldd")
	if _, err := os.Stat("/lib/firmware/regulatory.db-debian"); err != nil {
		testutil.Missing(t, "regulatory database (package wireless-regdb): %v", err)
	}
	setup := SetupProvision
	if s := os.Getenv("WIFIVM_SETUP"); s != "" {
		setup = Setup(s)
	}
	if setup == SetupProvision {
		// devmgr provision checks its files with these before installing them.
		testutil.RequireBinary(t, "systemd-analyze", "nginx")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := vm.ExecRunner{}
	root := testutil.ModuleRoot(t)
	tmp := t.TempDir()

	// WIFIVM_DEVMGR names a static devmgr built beforehand, instead of
	// building one here.
	devmgr := os.Getenv("WIFIVM_DEVMGR")
	if devmgr == "" {
		devmgr = filepath.Join(tmp, "devmgr")
		build := exec.CommandContext(ctx, goTool(t), "build", "-trimpath", "-ldflags", "-s -w", "-o", devmgr, "./cmd/devmgr")
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building static devmgr: %v\n%s", err, out)
		}
	}
	if out, err := exec.CommandContext(ctx, devmgr, "ap", "status", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "--leases") {
		t.Fatalf("devmgr has no working `ap status` command (is newAPCmd registered in cmd/devmgr/root.go?): %v\n%s", err, out)
	}
	t.Logf("devmgr built, setup %s (%s)", setup, time.Since(start).Round(time.Millisecond))

	kernel, err := vm.PrepareKernel(ctx, run, vm.DefaultCacheDir, Modules)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s, %d modules (%s)", kernel.Version, len(kernel.Insmod), time.Since(start).Round(time.Millisecond))

	cases := DefaultCases()
	initrd := filepath.Join(tmp, "initrd.gz")
	err = BuildInitramfs(ctx, run, Image{
		Kernel:   kernel,
		Devmgr:   devmgr,
		Cases:    cases,
		Setup:    setup,
		Deadline: 170,
		Debug:    os.Getenv("WIFIVM_DEBUG") != "",
		CacheDir: vm.DefaultCacheDir,
		LookPath: toolrun.LookPath,
	}, initrd)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(initrd); err == nil {
		t.Logf("initramfs %d MB (%s)", st.Size()>>20, time.Since(start).Round(time.Millisecond))
	}

	outDir := filepath.Join(root, "testout")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	console := filepath.Join(outDir, "wifivm-console.log")
	vmStart := time.Now()
	out, bootErr := vm.Boot{
		Qemu:    qemu,
		Kernel:  kernel.Vmlinuz,
		Initrd:  initrd,
		Console: console,
		Timeout: 180 * time.Second,
	}.Run(ctx)
	t.Logf("VM ran %s, test so far %s; console in %s", time.Since(vmStart).Round(time.Millisecond), time.Since(start).Round(time.Millisecond), console)
	checkErr := Check(cases, out)
	if bootErr != nil || checkErr != nil {
		t.Errorf("console tail:\n%s", lastLines(out, 80))
		if bootErr != nil {
			t.Error(bootErr)
		}
		if checkErr != nil {
			t.Error(checkErr)
		}
	}
}

// goTool finds the go command; `make test` puts /usr/local/go/bin on PATH,
// a bare `go test` may not.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	for _, p := range []string{filepath.Join(os.Getenv("GOROOT"), "bin", "go"), "/usr/local/go/bin/go"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	testutil.Missing(t, "the go command")
	return ""
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r", ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestCaseFiles(t *testing.T) {
	for _, c := range DefaultCases() {
		t.Run(c.Name, func(t *testing.T) {
			files, err := caseFiles(c)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"name", "ap_key_mgmt", "devmgr.yaml", "hostapd.conf", "dnsmasq.conf", "sta.conf"}
			if c.WrongPassphrase != "" {
				want = append(want, "bad.conf")
			}
			if len(files) != len(want) {
				t.Errorf("files %v, want %v", slices.Sorted(maps.Keys(files)), want)
			}
			for _, n := range want {
				if len(files[n]) == 0 {
					t.Errorf("%s is empty", n)
				}
			}
			if !strings.Contains(string(files["sta.conf"]), "key_mgmt="+c.StationKeyMgmt+"\n") {
				t.Errorf("sta.conf lacks key_mgmt=%s:\n%s", c.StationKeyMgmt, files["sta.conf"])
			}
		})
	}
}

func TestInitScriptsParse(t *testing.T) {
	sh := testutil.RequireBinary(t, "busybox")
	for _, s := range []struct {
		name string
		b    []byte
	}{{"init.sh", initScript}, {"udhcpc.sh", vm.UdhcpcScript}} {
		cmd := exec.Command(sh, "sh", "-n")
		cmd.Stdin = bytes.NewReader(s.b)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", s.name, err, out)
		}
	}
}

func TestSharedLibs(t *testing.T) {
	ldd := "\tlinux-vdso.so.1 (0x00007ffc)\n\tlibnl-3.so.200 => /lib/x86_64-linux-gnu/libnl-3.so.200 (0x00007f05)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f05)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f05)\n"
	got, err := sharedLibs(context.Background(), vm.FakeRunner{T: t, Answers: map[string]string{"ldd /usr/sbin/iw": ldd}}, "/usr/sbin/iw")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/lib/x86_64-linux-gnu/libnl-3.so.200", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sharedLibs (-want +got):\n%s", diff)
	}
}
