package freshvm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/testing/vm"
	"github.com/devmgr/devmgr/internal/toolrun"
)

// Demo is make run DEVICE=vm: the fresh VM with the package installed and
// set up, its console forwarded to the host, two stations associated over
// the simulated radio, until the context ends.
type Demo struct {
	// Deb is devmgr_<version>_amd64.deb (make deb).
	Deb string
	// Listen is the host's address the console is forwarded to, such as
	// 127.0.0.1:8443.
	Listen   string
	Out      io.Writer
	CacheDir string
	// Dir holds the run's disks and logs (it is kept: the consoles).
	Dir string
}

// Run builds (or takes from the cache) the image, installs and sets up the
// package on a first start (the disk after setup is cached, per package),
// boots the demo and prints the VM's progress; it returns when ctx ends,
// having stopped qemu.
func (d Demo) Run(ctx context.Context) error {
	run := vm.ExecRunner{}
	say := func(format string, args ...any) { fmt.Fprintf(d.Out, "vm: "+format+"\n", args...) }
	for _, p := range []string{"qemu-system-x86_64", "debootstrap", "mkfs.ext4", "busybox", "depmod", "modprobe", "dpkg-deb", "apt-get", "unshare"} {
		if _, err := toolrun.LookPath(p); err != nil {
			return fmt.Errorf("the VM needs %s (.ci/run installs what it needs): %w", p, err)
		}
	}
	if os.Geteuid() != 0 {
		return errors.New("the VM's image is made as root (debootstrap, chroot): run make run DEVICE=vm as root")
	}
	qemu, _ := toolrun.LookPath("qemu-system-x86_64")
	busybox, _ := toolrun.LookPath("busybox")
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return err
	}
	deps, err := PackageDeps(ctx, run, d.Deb)
	if err != nil {
		return err
	}
	say("preparing Debian's kernel (downloaded once)")
	bootK, err := vm.PrepareKernel(ctx, run, d.CacheDir, BootModules)
	if err != nil {
		return err
	}
	sysK, err := vm.PrepareKernel(ctx, run, d.CacheDir, SystemModules)
	if err != nil {
		return err
	}
	say("making the root disk: the first time a few minutes (debootstrap), cached in %s", d.CacheDir)
	base, err := Image{Kernel: sysK, Deps: deps, CacheDir: d.CacheDir, Run: run, Log: func(f string, a ...any) { say(f, a...) }}.Build(ctx)
	if err != nil {
		return err
	}
	initrd := filepath.Join(d.Dir, "initrd")
	if err := Initramfs(ctx, run, bootK, busybox, initrd); err != nil {
		return err
	}
	payloadDir, err := os.MkdirTemp(d.Dir, "payload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(payloadDir)
	payload := filepath.Join(d.Dir, "payload.img")
	if err := (Payload{V1: d.Deb, Demo: true}).Build(ctx, run, payloadDir, payload); err != nil {
		return err
	}
	boot := func(disk, name string) ([]byte, error) {
		results := filepath.Join(d.Dir, name+"-results.log")
		stop := tail(results, func(l string) {
			if pw, ok := strings.CutPrefix(l, "FRESHVM DEMO READY admin-password="); ok {
				say("ready: the console is https://%s/ (a self-signed certificate); sign in as admin, password %q, then choose your own", d.Listen, pw)
				say("two stations are associated; Ctrl-C stops the VM")
				return
			}
			fmt.Fprintf(d.Out, "vm | %s\n", l)
		})
		_, err := vm.Boot{
			Qemu: qemu, Kernel: sysK.Vmlinuz, Initrd: initrd,
			Console: filepath.Join(d.Dir, name+"-console.log"), Serial2: results,
			Append:   "console=ttyS0 panic=-1 net.ifnames=0",
			MemoryMB: 1024, CPUs: 2, Disks: []string{disk, payload},
			HostForward: []string{"tcp:" + d.Listen + "-:443"},
			Timeout:     24 * time.Hour,
		}.Run(ctx)
		stop()
		res, _ := os.ReadFile(results)
		return res, err
	}
	// The disk after install and setup is kept per package: later starts
	// boot straight into the demo.
	sum, err := fileSHA256(d.Deb)
	if err != nil {
		return err
	}
	demoKey := key(filepath.Base(base), sum)
	disk := filepath.Join(d.Dir, "disk.img")
	setUp, err := vm.Cached(d.CacheDir, "freshvm-demo", demoKey, ".img", func(tmp string) error {
		say("first start with this package: installing it and running devmgr setup (a few minutes under emulation)")
		if _, err := run.Run(ctx, "", "cp", "--sparse=always", base, tmp); err != nil {
			return err
		}
		res, err := boot(tmp, "install")
		if err != nil {
			return err
		}
		if !bytes.Contains(res, []byte("FRESHVM REBOOT")) || bytes.Contains(res, []byte("FAIL")) {
			return fmt.Errorf("installing and setting up the package in the VM failed; see %s", filepath.Join(d.Dir, "install-results.log"))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := run.Run(ctx, "", "cp", "--sparse=always", setUp, disk); err != nil {
		return err
	}
	say("booting the set-up device; forwarding https://%s to its console", d.Listen)
	_, err = boot(disk, "demo")
	if ctx.Err() != nil {
		say("stopped")
		return nil
	}
	return err
}

// tail calls f with each line written to path until the returned stop is
// called.
func tail(path string, f func(string)) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var off int64
		var partial string
		for {
			if b, err := os.ReadFile(path); err == nil && int64(len(b)) > off {
				chunk := partial + strings.ReplaceAll(string(b[off:]), "\r", "")
				off = int64(len(b))
				lines := strings.Split(chunk, "\n")
				partial = lines[len(lines)-1]
				for _, l := range lines[:len(lines)-1] {
					f(l)
				}
			}
			select {
			case <-done:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-finished }
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
