package provision

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

var resetCases = []struct {
	name  string
	reset config.Reset
}{
	{"reset-mount", config.Reset{Mode: config.ResetMount, Lower: "/mnt/lower", Upper: "/mnt/upper", Work: "/mnt/work",
		Merged: "/srv/app-data", Options: []string{"index=off"}, Services: []string{"app.service", "worker@1.service"}, KeepSettings: true}},
	{"reset-root", config.Reset{Mode: config.ResetRoot, Device: "LABEL=devmgr-data", FSType: "ext4", Persist: "/media/root-rw",
		Lower: "/media/root-ro", Upper: "/media/root-rw/overlay", Work: "/media/root-rw/overlay-workdir", Merged: "/"}},
}

func resetPlan(t *testing.T, r config.Reset) []File {
	t.Helper()
	c := testConfig()
	c.Reset = r
	if r.Mode == config.ResetRoot {
		c.Backup.Dir = "/media/root-rw/devmgr-backups"
	}
	files, err := Plan(c, testOptions())
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	var out []File
	for _, f := range files {
		if strings.Contains(f.Path, "reset") || strings.HasSuffix(f.Path, ".mount") {
			out = append(out, f)
		}
	}
	return out
}

// The reset's files, one golden set per mode; no reset, no file.
func TestResetFilesGolden(t *testing.T) {
	t.Parallel()
	if files := resetPlan(t, config.DefaultReset()); len(files) != 0 {
		t.Errorf("reset.mode none renders %d reset files", len(files))
	}
	for _, tc := range resetCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("testdata", tc.name)
			if testutil.Updating() {
				os.RemoveAll(dir)
			}
			var got []string
			for _, f := range resetPlan(t, tc.reset) {
				got = append(got, f.Path)
				testutil.Golden(t, filepath.Join(dir, goldenName(f.Path)), f.Content)
			}
			want := map[string][]string{
				"reset-mount": {"/etc/systemd/system/srv-app\\x2ddata.mount", "/etc/systemd/system/devmgr-reset.service"},
				"reset-root":  {device.InitramfsHook, device.InitramfsScript, "/etc/systemd/system/devmgr-reset.service"},
			}[tc.name]
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

// The units pass systemd-analyze verify with devmgr's others, and the
// mount unit's name is systemd's own escaping of its path.
func TestResetUnitsVerify(t *testing.T) {
	t.Parallel()
	testutil.SkipShort(t, "runs systemd-analyze")
	testutil.RequireBinary(t, "systemd-analyze", "systemd-escape")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range resetCases {
		c, o := testConfig(), testOptions()
		c.Reset, o.Binary = tc.reset, exe
		if tc.reset.Mode == config.ResetRoot {
			c.Backup.Dir = "/media/root-rw/devmgr-backups"
		}
		files, err := Plan(c, o)
		if err != nil {
			t.Fatal(err)
		}
		var units []File
		for _, f := range files {
			if f.Check == CheckUnit {
				units = append(units, f)
			}
		}
		if errs := checkUnits(context.Background(), units); len(errs) > 0 {
			t.Errorf("%s: %v", tc.name, errors.Join(errs...))
		}
	}
	for _, p := range []string{"/mnt/merged", "/srv/app-data", "/data/a.b/c_d", "/x/.hidden", "/"} {
		out, err := exec.Command("systemd-escape", "--path", "--suffix=mount", p).Output()
		if err != nil {
			t.Fatal(err)
		}
		if want, got := strings.TrimSpace(string(out)), MountUnit(p); got != want {
			t.Errorf("MountUnit(%q) = %q, systemd-escape says %q", p, got, want)
		}
	}
}

// The early-boot step and its hook parse as POSIX sh, in dash and in
// busybox's ash (the initramfs's shells).
func TestEarlyBootParses(t *testing.T) {
	t.Parallel()
	files := resetPlan(t, resetCases[1].reset)
	shells := [][]string{{"sh", "-n"}}
	if _, err := exec.LookPath("busybox"); err == nil {
		shells = append(shells, []string{"busybox", "sh", "-n"})
	} else {
		testutil.Missing(t, "busybox (busybox-static in .ci/run)")
	}
	for _, f := range files {
		if !strings.HasPrefix(f.Path, "/etc/initramfs-tools/") {
			continue
		}
		if !strings.HasPrefix(string(f.Content), "#!/bin/sh\n") || f.Mode != 0o755 {
			t.Errorf("%s: not an executable sh script (mode %#o)", f.Path, f.Mode)
		}
		p := filepath.Join(t.TempDir(), "script")
		if err := os.WriteFile(p, f.Content, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, sh := range shells {
			if out, err := exec.Command(sh[0], append(sh[1:], p)...).CombinedOutput(); err != nil {
				t.Errorf("%s %s: %v\n%s", strings.Join(sh, " "), f.Path, err, out)
			}
		}
		out, err := exec.Command("sh", p, "prereqs").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("%s prereqs: %v, %q", f.Path, err, out)
		}
	}
}

func TestEarlyBootFor(t *testing.T) {
	t.Parallel()
	r := resetCases[1].reset
	want := EarlyBoot{Device: "/dev/disk/by-label/devmgr-data", FSType: "ext4", MountOptions: "rw", Mountpoint: "/run/devmgr-reset",
		Upper: "overlay", Work: "overlay-workdir", Dir: "devmgr-reset", BootIDFile: "/proc/sys/kernel/random/boot_id"}
	if diff := cmp.Diff(want, EarlyBootFor(r)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	r.Device = "/dev/mmcblk0p3"
	if got := EarlyBootFor(r).Device; got != "/dev/mmcblk0p3" {
		t.Errorf("device %q", got)
	}
	for _, bad := range []EarlyBoot{
		{Device: "/dev/x'; reboot; '", FSType: "ext4", MountOptions: "rw", Mountpoint: "/run/x", Upper: "u", Work: "w", Dir: "d", BootIDFile: "/b"},
		{Device: "/dev/x", FSType: "ext4", MountOptions: "rw", Mountpoint: "/run/x", Upper: "../u", Work: "w", Dir: "d", BootIDFile: "/b"},
		{Device: "/dev/x", FSType: "ext4", MountOptions: "rw", Mountpoint: "/run/x", Upper: "", Work: "w", Dir: "d", BootIDFile: "/b"},
	} {
		if _, err := RenderEarlyBoot(bad); err == nil {
			t.Errorf("RenderEarlyBoot(%+v) rendered", bad)
		}
	}
}

// The root mode's prerequisites, each missing one named.
func TestCheckResetRoot(t *testing.T) {
	t.Parallel()
	c := testConfig()
	c.Reset = resetCases[1].reset
	c.Backup.Dir = "/media/root-rw/devmgr-backups"
	initramfs := []string{"/usr/sbin/update-initramfs", "/usr/share/initramfs-tools/hook-functions"}
	overlayroot := "/usr/share/initramfs-tools/scripts/init-bottom/overlayroot"
	rootOverlay := "22 1 0:30 / / rw,relatime - overlay overlayroot rw,lowerdir=/media/root-ro,upperdir=/media/root-rw/overlay,workdir=/media/root-rw/overlay-workdir\n"
	for _, tc := range []struct {
		name      string
		files     map[string]string
		mountinfo string
		want      []string // parts of the error; none: no error
	}{
		{"nothing", nil, "", []string{"initramfs-tools (/usr/sbin/update-initramfs is missing", "overlayroot (apt-get install overlayroot), or another initramfs overlay on / with upperdir=/media/root-rw/overlay"}},
		{"overlayroot off", map[string]string{overlayroot: "", "/etc/overlayroot.conf": "overlayroot=\"\"\n"}, "",
			[]string{"initramfs-tools", `overlayroot enabled: set overlayroot="device:dev=LABEL=devmgr-data"`}},
		{"tmpfs", map[string]string{overlayroot: "", "/etc/overlayroot.conf": "overlayroot=\"tmpfs\"\n"}, "", []string{"a persistent upper layer"}},
		{"other device", map[string]string{overlayroot: "", "/etc/overlayroot.local.conf": "overlayroot=\"device:dev=/dev/sdb1,timeout=10\"\n"}, "",
			[]string{"overlayroot's device to be reset.device LABEL=devmgr-data"}},
		{"overlayroot on the device", map[string]string{overlayroot: "", "/etc/overlayroot.conf": "overlayroot=\"\"\n",
			"/etc/overlayroot.local.conf": "overlayroot=\"device:dev=/dev/disk/by-label/devmgr-data,timeout=10\"\n"}, "", nil},
		{"an equivalent overlay", nil, rootOverlay, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			files := map[string]string{}
			if tc.want == nil || !strings.Contains(strings.Join(tc.want, " "), "initramfs-tools") {
				for _, f := range initramfs {
					files[f] = ""
				}
			}
			for p, b := range tc.files {
				files[p] = b
			}
			for p, b := range files {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, p), []byte(b), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			mi := filepath.Join(root, "mountinfo")
			if err := os.WriteFile(mi, []byte(tc.mountinfo), 0o644); err != nil {
				t.Fatal(err)
			}
			err := CheckResetRoot(root, mi, c)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrResetPrerequisite) {
				t.Fatalf("error %v, want ErrResetPrerequisite", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
