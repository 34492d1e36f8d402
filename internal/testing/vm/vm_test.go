package vm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func TestParseResults(t *testing.T) {
	out := []byte("boot noise\r\nCASE wpa2 PASS\r\nCASE restart PASS (back in 4.1 s)\r\nwifivm: x\r\nCASE wpa3-sae FAIL: station did not reach wpa_state=COMPLETED\r\nX ABORT: deadline\r\n")
	res, abort := ParseResults(out, "X ABORT: ")
	want := []Result{
		{Name: "wpa2", Pass: true},
		{Name: "restart", Pass: true, Note: "back in 4.1 s"},
		{Name: "wpa3-sae", Reason: "station did not reach wpa_state=COMPLETED"},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if abort != "deadline" {
		t.Errorf("abort = %q", abort)
	}
	err := Check([]string{"wpa2", "wpa3-sae", "wpa3-sae-wrong-passphrase", "wpa2-wpa3"}, res, abort)
	for _, s := range []string{"case wpa3-sae: station did not", "case wpa3-sae-wrong-passphrase: no result line", "case wpa2-wpa3: no result line", "VM aborted: deadline"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("Check error = %v, want it to contain %q", err, s)
		}
	}
	if err := Check([]string{"wpa2"}, res[:1], ""); err != nil {
		t.Errorf("Check of a passing case = %v", err)
	}
	// A later line for the same name counts (a check repeated after a reboot).
	again := append(res, Result{Name: "wpa3-sae", Pass: true})
	if err := Check([]string{"wpa2", "wpa3-sae"}, again, ""); err != nil {
		t.Errorf("Check with a later pass = %v", err)
	}
}

func TestBootArgs(t *testing.T) {
	b := Boot{Kernel: "K", Initrd: "I", Disks: []string{"a.img", "b.img"}, Serial2: "r.log", MemoryMB: 1024, CPUs: 2, Append: "root=/dev/vda"}
	got := strings.Join(b.args(), " ")
	for _, s := range []string{"-accel tcg", "-m 1024 -smp 2", "-no-reboot", "-append root=/dev/vda", "-serial stdio -serial file:r.log",
		"-drive file=a.img,format=raw,if=virtio,cache=unsafe -drive file=b.img,format=raw,if=virtio,cache=unsafe"} {
		if !strings.Contains(got, s) {
			t.Errorf("qemu args %q lack %q", got, s)
		}
	}
	if got := strings.Join(Boot{}.args(), " "); !strings.Contains(got, "-m 512 -smp 1") || !strings.Contains(got, "-append console=ttyS0 panic=-1 quiet") ||
		strings.Contains(got, "-drive") || !strings.Contains(got, "-nic none") {
		t.Errorf("default qemu args %q", got)
	}
	fwd := Boot{HostForward: []string{"tcp:127.0.0.1:8443-:443", "tcp:127.0.0.1:8080-:80"}}
	if got := strings.Join(fwd.args(), " "); !strings.Contains(got, "-nic user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:8443-:443,hostfwd=tcp:127.0.0.1:8080-:80") {
		t.Errorf("qemu args with forwards %q", got)
	}
}

func TestCached(t *testing.T) {
	dir := t.TempDir()
	builds := 0
	build := func(content string) func(string) error {
		return func(tmp string) error {
			builds++
			return os.WriteFile(tmp, []byte(content), 0o644)
		}
	}
	p1, err := Cached(dir, "base", "k1", ".img", build("one"))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := Cached(dir, "base", "k1", ".img", build("again")); err != nil || p != p1 || builds != 1 {
		t.Errorf("second Cached = %q, %v after %d builds; want %q from the cache", p, err, builds, p1)
	}
	p2, err := Cached(dir, "base", "k2", ".img", build("two"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p1); err == nil {
		t.Errorf("%s of the old key is still there", p1)
	}
	if b, _ := os.ReadFile(p2); string(b) != "two" {
		t.Errorf("%s holds %q", p2, b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != filepath.Base(p2) {
		t.Errorf("cache dir holds %v, want only %s", entries, filepath.Base(p2))
	}
	if _, err := Cached(dir, "base", "", ".img", build("x")); err == nil {
		t.Error("Cached with an empty key succeeded")
	}
}

func TestArchiveIsReadableByCpio(t *testing.T) {
	cpio := testutil.RequireBinary(t, "cpio")
	a := NewArchive()
	a.File("etc/wifivm/env", 0o644, []byte("A=1\n"))
	a.File("init", 0o755, []byte("#!/bin/sh\n"))
	a.Symlink("bin/sh", "busybox")
	a.CharDev("dev/console", 0o600, 5, 1)
	var buf bytes.Buffer
	if _, err := a.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cpio, "-t", "--quiet")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	want := "bin\nbin/sh\ndev\ndev/console\netc\netc/wifivm\netc/wifivm/env\ninit\n"
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("cpio -t (-want +got):\n%s", diff)
	}
}
func TestCurrentKernel(t *testing.T) {
	tests := []struct {
		name    string
		answers map[string]string
		pkg     string
		deb     string
	}{
		{
			name: "version in Depends",
			answers: map[string]string{
				"apt-cache show --no-all-versions linux-image-amd64": "Package: linux-image-amd64\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)\n",
			},
			pkg: "linux-image-6.1.0-56-amd64",
			deb: "linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb",
		},
		{
			name: "no version: ask apt-get for the file name",
			answers: map[string]string{
				"apt-cache show --no-all-versions linux-image-amd64":       "Package: linux-image-amd64\nDepends: linux-image-6.1.0-57-amd64\n",
				"apt-get download --print-uris linux-image-6.1.0-57-amd64": "'http://deb.debian.org/x.deb' linux-image-6.1.0-57-amd64_6.1.200-1_amd64.deb 70550672 SHA256:00\n",
			},
			pkg: "linux-image-6.1.0-57-amd64",
			deb: "linux-image-6.1.0-57-amd64_6.1.200-1_amd64.deb",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkg, deb, err := currentKernel(context.Background(), FakeRunner{T: t, Answers: tt.answers})
			if err != nil {
				t.Fatal(err)
			}
			if pkg != tt.pkg || deb != tt.deb {
				t.Errorf("currentKernel = %q, %q; want %q, %q", pkg, deb, tt.pkg, tt.deb)
			}
		})
	}
}

func TestGuestScriptsParse(t *testing.T) {
	sh := testutil.RequireBinary(t, "busybox")
	for name, b := range map[string][]byte{"guest.sh": GuestLib, "udhcpc.sh": UdhcpcScript} {
		cmd := exec.Command(sh, "sh", "-n")
		cmd.Stdin = bytes.NewReader(b)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", name, err, out)
		}
	}
	// wait_for gives up after its seconds, and says so.
	script := string(GuestLib) + "\nt=$(now_ms); wait_for 1 false && echo ok || echo gave-up-after $(since $t)\n"
	out, err := exec.Command(sh, "sh", "-c", script).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "gave-up-after 1.") {
		t.Errorf("wait_for 1 false: %v: %q", err, out)
	}
}
