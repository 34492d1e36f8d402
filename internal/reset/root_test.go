package reset

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/backup"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/provision"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

const secondBoot = "22222222-2222-4222-8222-222222222222"

// newRootLab is a root-mode lab: its persistent layer an ext4 image
// (mkfs.ext4 -d) loop-mounted at reset.persist, the overlay mounted at
// reset.merged over it, the early-boot step installed under l.root.
func newRootLab(t *testing.T, dir string) *lab {
	t.Helper()
	testutil.RequireBinary(t, "mkfs.ext4", "mount", "umount")
	l := newLab(t, dir, config.ResetRoot)
	r := l.cfg.Reset
	seed := filepath.Join(dir, "seed")
	for _, d := range []string{"overlay", "overlay-workdir"} {
		must(t, os.MkdirAll(filepath.Join(seed, d), 0o755))
	}
	f, err := os.Create(r.Device)
	must(t, err)
	must(t, f.Truncate(64<<20))
	must(t, f.Close())
	run(t, "mkfs.ext4", "-q", "-d", seed, r.Device)
	must(t, os.MkdirAll(r.Persist, 0o755))
	l.mountPersist()
	l.mountOverlay()
	for _, p := range []string{device.InitramfsHook, device.InitramfsScript} {
		write(t, filepath.Join(l.root, p), "#!/bin/sh\n", 0o755)
	}
	return l
}

// mountPersist loop-mounts the image as the booted system has it (mount
// reuses the loop device of an image mounted already).
func (l *lab) mountPersist() {
	run(l.t, "mount", "-t", "ext4", "-o", "loop", l.cfg.Reset.Device, l.cfg.Reset.Persist)
}

// earlyBoot runs the early-boot step as the initramfs would, with shell,
// and returns what it printed.
func (l *lab) earlyBoot(shell ...string) string {
	l.t.Helper()
	e := provision.EarlyBootFor(l.cfg.Reset)
	e.MountOptions = "loop,rw"
	e.Mountpoint = filepath.Join(l.dir, "initramfs", "run", "devmgr-reset")
	e.BootIDFile = l.bootID
	script, err := provision.RenderEarlyBoot(e)
	must(l.t, err)
	p := filepath.Join(l.dir, "initramfs", "devmgr-reset")
	write(l.t, p, string(script), 0o755)
	cmd := exec.Command(shell[0], append(shell[1:], p)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		l.t.Fatalf("the early-boot step: %v\n%s", err, out)
	}
	return string(out)
}

// bootShell is the initramfs's shell: busybox's, else sh.
func bootShell(t *testing.T) []string {
	if _, err := exec.LookPath("busybox"); err == nil {
		return []string{"busybox", "sh"}
	}
	testutil.Missing(t, "busybox (busybox-static in .ci/run)")
	return []string{"sh"}
}

// The root mode end to end: a reset keeping the settings writes the marker
// and the kept settings beside the upper layer and reboots; the run waits
// for the reboot; the early-boot step, with nothing mounted, empties the
// upper and work directories of the loop-mounted image; after the boot,
// Resume finds its record, puts the settings back and verifies.
func TestRootResetWipesAtEarlyBoot(t *testing.T) {
	l := changedLab(t, config.ResetRoot)
	if l == nil {
		return
	}
	r := l.cfg.Reset
	cfgBefore, err := os.ReadFile(l.cfgPath)
	must(t, err)
	reboots := 0
	ctx := context.Background()
	rs := l.resetter(func(c *Config) { c.Reboot = func(context.Context) error { reboots++; return nil } })
	if _, err := rs.Start(ctx, Request{Confirm: hostname, KeepSettings: true, User: "root"}); err != nil {
		t.Fatal(err)
	}
	run1, err := rs.Wait(ctx)
	must(t, err)
	if run1.Status != api.ResetRebooting || reboots != 1 || phaseOf(run1, api.PhaseRebooting).State != api.PhaseDone ||
		phaseOf(run1, api.PhaseWiping).State != api.PhasePending {
		t.Fatalf("before the reboot: %d reboots, %+v", reboots, run1)
	}
	resetDir := filepath.Join(r.Persist, device.ResetDirName)
	for _, f := range []string{device.ResetRequest, keepFile, journalFile} {
		if _, err := os.Stat(filepath.Join(resetDir, f)); err != nil {
			t.Errorf("on the persistent layer: %v", err)
		}
	}
	if len(names(t, r.Upper)) == 0 {
		t.Fatal("the upper layer is empty before the reboot")
	}
	// An agent that restarts before the reboot leaves the run waiting.
	if run, ok, err := l.resetter(nil).Resume(ctx); ok || err != nil || run.Status != api.ResetRebooting {
		t.Errorf("Resume before the reboot: %v, %v, %+v", ok, err, run)
	}

	// The reboot: the overlay and the persistent device go; the early
	// boot finds the marker and nothing mounted.
	l.unmountOverlay()
	run(t, "umount", r.Persist)
	l.setBoot(secondBoot)
	out := l.earlyBoot(bootShell(t)...)
	if !strings.Contains(out, "emptied overlay (") {
		t.Errorf("the early-boot step said:\n%s", out)
	}
	l.mountPersist()
	for _, d := range []string{r.Upper, r.Work} {
		if n := names(t, d); len(n) != 0 {
			t.Errorf("%s holds %q after the early-boot step", d, n)
		}
	}
	if _, err := os.Stat(filepath.Join(resetDir, device.ResetRequest)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the marker is still there: %v", err)
	}
	wiped, err := os.ReadFile(filepath.Join(resetDir, device.ResetWiped))
	if err != nil || !strings.Contains(string(wiped), "boot_id="+secondBoot) {
		t.Errorf("the early-boot record: %q, %v", wiped, err)
	}
	l.mountOverlay()

	done, ok, err := l.resetter(nil).Resume(ctx)
	if err != nil || !ok {
		t.Fatalf("Resume after the boot: %v, %v\n%+v\n%s", ok, err, done, eventText(done))
	}
	checkDone(t, done, []string{api.PhaseChecking, api.PhaseSaving, api.PhaseRebooting, api.PhaseWiping, api.PhaseStopping,
		api.PhaseSettings, api.PhaseVerifying, api.PhaseStarting})
	if done.ID != run1.ID || !strings.Contains(phaseOf(done, api.PhaseWiping).Detail, "in this boot, before the overlay was mounted") {
		t.Errorf("run %s, wiping: %+v", done.ID, phaseOf(done, api.PhaseWiping))
	}
	var checks []string
	for _, c := range done.Verification.Checks {
		checks = append(checks, c.Name)
	}
	if diff := cmp.Diff([]string{checkEarlyBoot, checkMounted, checkSettings, checkServices}, checks); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	// The factory's files are back, the changes gone, the settings kept.
	if b, err := os.ReadFile(filepath.Join(r.Merged, "etc/app.conf")); err != nil || string(b) != factory["etc/app.conf"] {
		t.Errorf("etc/app.conf: %q, %v", b, err)
	}
	for _, p := range []string{"data/new.txt", "etc/extra.conf"} {
		if _, err := os.Lstat(filepath.Join(r.Merged, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(r.Merged, "share/doc/old/notes")); err != nil {
		t.Errorf("the replaced directory is not the factory's again: %v", err)
	}
	if b, err := os.ReadFile(l.cfgPath); err != nil || !bytes.Equal(b, cfgBefore) {
		t.Errorf("the config is not the edited one: %v", err)
	}
	db, err := store.Open(ctx, l.cfg.DataDir, testLog(t))
	must(t, err)
	if _, err := db.UserByName(ctx, "alice"); err != nil {
		t.Errorf("the kept admin: %v", err)
	}
	db.Close()
	if ap, err := apmgr.ReadState(l.cfg.Agent.StateDir, filepath.Join(l.dir, "deny")); err != nil || ap.Settings == nil || ap.Settings.SSID != "Kept" {
		t.Errorf("the agent's settings: %+v, %v", ap, err)
	}
	for p := range tree(t, r.Upper) {
		if p != "." && !within(p, "etc/devmgr/devmgr.yaml") && !within(p, "var/lib/devmgr") && !within(p, "var/lib/devmgr-agent") &&
			!slices.Contains([]string{"etc", "etc/devmgr", "var", "var/lib"}, p) {
			t.Errorf("the upper layer holds %s", p)
		}
	}
	for _, f := range []string{device.ResetWiped, keepFile} {
		if _, err := os.Stat(filepath.Join(resetDir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s stays: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(backup.TLSDir(l.cfg), "cert.pem")); err != nil {
		t.Errorf("the TLS pair: %v", err)
	}
}

// The early-boot step refuses to wipe while the persistent device is
// mounted anywhere (here with the overlay on it): nothing is wiped, the
// marker goes (no later boot wipes by surprise), and the run after the
// boot fails saying why, for good.
func TestEarlyBootRefusesMountedLayer(t *testing.T) {
	l := changedLab(t, config.ResetRoot)
	if l == nil {
		return
	}
	r := l.cfg.Reset
	ctx := context.Background()
	rs := l.resetter(func(c *Config) { c.Reboot = func(context.Context) error { return nil } })
	if _, err := rs.Start(ctx, Request{Confirm: hostname, User: "root"}); err != nil {
		t.Fatal(err)
	}
	if run, err := rs.Wait(ctx); err != nil || run.Status != api.ResetRebooting {
		t.Fatalf("%v, %+v", err, run)
	}
	upper := tree(t, r.Upper)
	l.setBoot(secondBoot)
	out := l.earlyBoot("sh")
	if !strings.Contains(out, "not wiped: "+r.Device+" is mounted at "+r.Persist) {
		t.Errorf("the early-boot step said:\n%s", out)
	}
	if diff := cmp.Diff(upper, tree(t, r.Upper)); diff != "" {
		t.Errorf("the upper layer changed (-before +after):\n%s", diff)
	}
	resetDir := filepath.Join(r.Persist, device.ResetDirName)
	if _, err := os.Stat(filepath.Join(resetDir, device.ResetRequest)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the marker is still there: %v", err)
	}
	run, ok, err := l.resetter(nil).Resume(ctx)
	if err == nil || !ok || run.Status != api.ResetFailed || !strings.Contains(run.Error, "the early-boot step did not wipe") ||
		!strings.Contains(run.Error, "a layer is wiped only while nothing mounts it") {
		t.Errorf("Resume: %v, %v, %+v", ok, err, run)
	}
	if _, ok, err := l.resetter(nil).Resume(ctx); ok || err != nil {
		t.Errorf("a refused run is resumed again: %v, %v", ok, err)
	}
	if diff := cmp.Diff(upper, tree(t, r.Upper)); diff != "" {
		t.Errorf("the upper layer changed (-before +after):\n%s", diff)
	}
	if l.svc.log() != nil {
		t.Errorf("services were touched: %q", l.svc.log())
	}
}

// The root mode refuses when the early-boot step is not installed, or
// the reboot fails (the marker withdrawn).
func TestRootResetRefusals(t *testing.T) {
	l := changedLab(t, config.ResetRoot)
	if l == nil {
		return
	}
	ctx := context.Background()
	must(t, os.Remove(filepath.Join(l.root, device.InitramfsScript)))
	if _, err := l.resetter(nil).Start(ctx, Request{Confirm: hostname}); !errors.Is(err, ErrRefused) ||
		!strings.Contains(err.Error(), "the early-boot step is not installed") {
		t.Errorf("without the early-boot step: %v", err)
	}
	write(t, filepath.Join(l.root, device.InitramfsScript), "#!/bin/sh\n", 0o755)
	run, err := l.resetter(nil).Run(ctx, Request{Confirm: hostname})
	if err == nil || run.Status != api.ResetFailed || !strings.Contains(run.Error, "no reboot in this test; the marker is withdrawn") {
		t.Errorf("a failed reboot: %v, %+v", err, run)
	}
	if _, err := os.Stat(filepath.Join(l.cfg.ResetDir(), device.ResetRequest)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the marker stays: %v", err)
	}
}
