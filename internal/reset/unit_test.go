package reset

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// fakeInfo is a FileInfo of a given mode and device number.
type fakeInfo struct {
	mode fs.FileMode
	rdev uint64
}

func (f fakeInfo) Name() string       { return "x" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return &syscall.Stat_t{Rdev: f.rdev} }

func TestIsWhiteout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fi   fs.FileInfo
		want bool
	}{
		{fakeInfo{mode: fs.ModeDevice | fs.ModeCharDevice}, true},
		{fakeInfo{mode: fs.ModeDevice | fs.ModeCharDevice, rdev: unix.Mkdev(1, 3)}, false}, // /dev/null
		{fakeInfo{mode: fs.ModeDevice}, false},                                             // a block device 0/0
		{fakeInfo{mode: 0o644}, false},
		{fakeInfo{mode: fs.ModeDir | 0o755}, false},
	} {
		if got := IsWhiteout(tc.fi); got != tc.want {
			t.Errorf("IsWhiteout(%v, rdev %d) = %v", tc.fi.Mode(), tc.fi.Sys().(*syscall.Stat_t).Rdev, got)
		}
	}
}

// An opaque directory is one whose overlay.opaque attribute is "y", in
// the trusted namespace or (userxattr mounts) the user one.
func TestIsOpaque(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, v := range map[string]string{"plain": "", "opaque": "y", "xwhiteouts": "x"} {
		p := filepath.Join(dir, name)
		must(t, os.Mkdir(p, 0o755))
		if v == "" {
			continue
		}
		if err := unix.Setxattr(p, "user.overlay.opaque", []byte(v), 0); err != nil {
			testutil.Missing(t, "user extended attributes on %s: %v", dir, err)
		}
	}
	for name, want := range map[string]bool{"plain": false, "opaque": true, "xwhiteouts": false, "missing": false} {
		if got := IsOpaque(filepath.Join(dir, name)); got != want {
			t.Errorf("IsOpaque(%s) = %v", name, got)
		}
	}
}

// ScanUpper on an upper layer made by hand, as overlayfs leaves one: a
// whiteout (a character device 0/0), an opaque directory, a file copied
// up, one added, and a directory only copied up to hold a change.
func TestScanUpper(t *testing.T) {
	t.Parallel()
	lower, upper := t.TempDir(), t.TempDir()
	for p, c := range map[string]string{"etc/a.conf": "a", "etc/b.conf": "b", "opt/app/old": "old", "top.txt": "top"} {
		write(t, filepath.Join(lower, p), c, 0o644)
	}
	write(t, filepath.Join(upper, "etc/a.conf"), "changed", 0o644)
	write(t, filepath.Join(upper, "etc/new.conf"), "new!", 0o644)
	write(t, filepath.Join(upper, "opt/app/fresh"), "fresh", 0o644)
	if err := unix.Mknod(filepath.Join(upper, "etc/b.conf"), unix.S_IFCHR, 0); err != nil {
		testutil.Missing(t, "CAP_MKNOD to make a whiteout: %v", err)
		return
	}
	if err := unix.Setxattr(filepath.Join(upper, "opt/app"), "user.overlay.opaque", []byte("y"), 0); err != nil {
		testutil.Missing(t, "user extended attributes: %v", err)
		return
	}
	usage, ch, err := ScanUpper(context.Background(), upper, []string{filepath.Join(t.TempDir(), "none"), lower})
	must(t, err)
	if diff := cmp.Diff(api.OverlayUsage{Files: 4, Dirs: 3, Bytes: 16}, usage); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
	want := api.OverlayChanges{Added: 2, Changed: 1, Deleted: 2, Groups: []api.ChangeGroup{
		{Dir: "/etc", Added: []string{"etc/new.conf"}, Changed: []string{"etc/a.conf"}, Deleted: []string{"etc/b.conf"}},
		{Dir: "/opt", Added: []string{"opt/app/fresh"}, Deleted: []string{"opt/app/"}},
	}}
	if diff := cmp.Diff(want, ch); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func TestMappedUnder(t *testing.T) {
	t.Parallel()
	maps := `55d5c0e4c000-55d5c0e4e000 r--p 00000000 08:02 1836 /usr/bin/sleep
7f2a4a600000-7f2a4a628000 r--p 00000000 00:2c 12 /mnt/merged/lib/libx.so
7f2a4a628000-7f2a4a7bd000 r-xp 00028000 00:2c 12 /mnt/merged/lib/libx.so
7f2a4a800000-7f2a4a801000 rw-s 00000000 00:2c 13 /mnt/merged/data/with space (deleted)
7ffd7a1e0000-7ffd7a201000 rw-p 00000000 00:00 0 [stack]
7ffd7a2f0000-7ffd7a2f1000 r-xp 00000000 00:00 0
`
	got := mappedUnder(strings.NewReader(maps), "/mnt/merged")
	want := []string{"mapped: /mnt/merged/lib/libx.so", "mapped: /mnt/merged/data/with space"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if mappedUnder(strings.NewReader(maps), "/mnt/merg") != nil {
		t.Error("a prefix that is not a directory matched")
	}
}

// This process holds its working directory and its test binary: Holders
// finds it there, and nowhere it is not.
func TestHolders(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	must(t, err)
	hs, err := Holders("/proc", filepath.Dir(exe))
	must(t, err)
	found := false
	for _, h := range hs {
		if h.PID == os.Getpid() {
			found = strings.Contains(strings.Join(h.Uses, " "), "exe: "+exe) && h.Command != ""
		}
	}
	if !found {
		t.Errorf("this process is not among the holders of %s: %+v", filepath.Dir(exe), hs)
	}
	if hs, err := Holders("/proc", filepath.Join(t.TempDir(), "nothing")); err != nil || len(hs) != 0 {
		t.Errorf("holders of an unused directory: %+v, %v", hs, err)
	}
}

func TestKeptSet(t *testing.T) {
	t.Parallel()
	k := keptWithin([]string{"/m/etc/devmgr/devmgr.yaml", "/m/var/lib/devmgr", "/elsewhere/state", "/m"}, "/m")
	if diff := cmp.Diff(keptSet{"etc/devmgr/devmgr.yaml", "var/lib/devmgr"}, k); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for rel, want := range map[string][2]bool{
		"etc/devmgr/devmgr.yaml": {true, false}, "var/lib/devmgr/tls/cert.pem": {true, false},
		"etc": {false, true}, "var/lib": {false, true}, "etc/devmgr/other": {false, false}, "var/lib/devmgr-agent": {false, false},
	} {
		if got := [2]bool{k.holds(rel), k.leadsTo(rel)}; got != want {
			t.Errorf("%s: holds, leadsTo = %v, want %v", rel, got, want)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain":            "plain",
		"two\nlines\t\x1b": "two?lines??",
		"bad \xff utf8":    "bad ? utf8",
	} {
		if got := text(in); got != want || checkText(got, maxText) != nil {
			t.Errorf("text(%q) = %q", in, got)
		}
	}
	if got := text(strings.Repeat("é", maxText)); len(got) > maxText || checkText(got, maxText) != nil {
		t.Errorf("a long text is %d bytes", len(got))
	}
}

// Requests refused before the device is looked at: no reset configured,
// the host name wrong. Nothing is written, not even the reset's
// directory.
func TestStartRefusesEarly(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "reset")
	base := Config{Dir: dir, Settings: BackupSettings{}, Hostname: func() (string, error) { return "dev-7", nil }}
	none, err := New(base)
	must(t, err)
	if _, err := none.Start(context.Background(), Request{Confirm: "dev-7"}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("mode none: %v", err)
	}
	if _, ok, err := none.Resume(context.Background()); ok || err != nil {
		t.Errorf("Resume, mode none: %v, %v", ok, err)
	}
	c := base
	c.Reset = config.Reset{Mode: config.ResetMount, Lower: "/l", Upper: "/u", Work: "/w", Merged: "/m"}
	r, err := New(c)
	must(t, err)
	for _, confirm := range []string{"", "dev-8", "dev-7x", "dev"} {
		if _, err := r.Start(context.Background(), Request{Confirm: confirm}); !errors.Is(err, ErrConfirm) {
			t.Errorf("confirm %q: %v", confirm, err)
		}
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the reset's directory was made: %v", err)
	}
	if _, err := New(Config{Dir: dir, Settings: BackupSettings{}, Reset: config.Reset{Mode: config.ResetRoot}}); err == nil {
		t.Error("a root mode without Reboot")
	}
}

// A journal read back is checked as the reset writes them; one that
// fails is set aside, reported, and never acted on.
func TestForgedJournalSetAside(t *testing.T) {
	t.Parallel()
	good := journal{ResetRun: api.ResetRun{ID: "0123456789abcdef", Mode: "mount", Status: api.ResetRunning, Phase: api.PhaseWiping,
		StartedAt: time.Unix(1e9, 0), Phases: []api.ResetPhase{{Name: api.PhaseWiping, State: api.PhaseActive}},
		Events: []api.ResetEvent{{Seq: 4, Phase: api.PhaseWiping, State: api.PhaseActive, Message: "wiping"}}}, Flags: []string{"nosuid"}}
	for name, forge := range map[string]func(*journal){
		"run ID":      func(j *journal) { j.ID = "../../etc" },
		"mode":        func(j *journal) { j.Mode = "root; rm" },
		"phase":       func(j *journal) { j.Phase = "format_disk" },
		"phase state": func(j *journal) { j.Phases[0].State = "maybe" },
		"mount flag":  func(j *journal) { j.Flags = []string{"nosuid", "bind"} },
		"event order": func(j *journal) {
			j.Events = append(j.Events, api.ResetEvent{Seq: 9, Phase: api.PhaseWiping, State: api.PhaseDone})
		},
		"control chars": func(j *journal) { j.Error = "bad\x1b[2J" },
		"percent":       func(j *journal) { j.Percent = 101 },
		"boot ID":       func(j *journal) { j.BootID = "../x" },
		"check": func(j *journal) {
			j.Verification = &api.ResetVerification{Checks: []api.ResetCheck{{Name: "trust-me", OK: true}}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			j := good
			j.Phases = append([]api.ResetPhase(nil), good.Phases...)
			forge(&j)
			must(t, change.WriteJSON(filepath.Join(dir, journalFile), j))
			var rejected []string
			r, err := New(Config{Dir: dir, Settings: BackupSettings{}, Reset: config.Reset{Mode: config.ResetMount}})
			must(t, err)
			if _, ok := r.Current(); ok {
				t.Error("a forged journal is the current run")
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				rejected = append(rejected, e.Name())
			}
			if len(rejected) != 1 || !strings.HasPrefix(rejected[0], journalFile+".rejected-") {
				t.Errorf("files: %q", rejected)
			}
		})
	}
	dir := t.TempDir()
	must(t, change.WriteJSON(filepath.Join(dir, journalFile), good))
	r, err := New(Config{Dir: dir, Settings: BackupSettings{}, Reset: config.Reset{Mode: config.ResetMount}})
	must(t, err)
	if run, ok := r.Current(); !ok || run.ID != good.ID {
		t.Errorf("the good journal: %v, %+v", ok, run)
	}
}

func TestNeedsResume(t *testing.T) {
	t.Parallel()
	mk := func(mode, status string, states map[string]string) *journal {
		j := &journal{ResetRun: api.ResetRun{Mode: mode, Status: status}, WipeBegan: states[api.PhaseWiping] != ""}
		for _, p := range phasesOf(mode) {
			s := states[p]
			if s == "" {
				s = api.PhasePending
			}
			j.Phases = append(j.Phases, api.ResetPhase{Name: p, State: s})
		}
		return j
	}
	for _, tc := range []struct {
		name string
		j    *journal
		want bool
	}{
		{"running", mk("mount", api.ResetRunning, nil), true},
		{"rebooting", mk("root", api.ResetRebooting, nil), true},
		{"done", mk("mount", api.ResetDone, nil), false},
		{"failed before the wipe", mk("mount", api.ResetFailed, map[string]string{api.PhaseUnmount: api.PhaseFailed}), false},
		{"failed in the wipe", mk("mount", api.ResetFailed, map[string]string{api.PhaseWiping: api.PhaseFailed}), true},
		{"failed remounting", mk("mount", api.ResetFailed, map[string]string{api.PhaseWiping: api.PhaseDone, api.PhaseRemount: api.PhaseFailed}), true},
		{"resumed, failed unmounting before its wipe ran again", func() *journal {
			j := mk("mount", api.ResetFailed, map[string]string{api.PhaseUnmount: api.PhaseFailed})
			j.WipeBegan = true
			return j
		}(), true},
		{"failed verification", mk("mount", api.ResetFailed, map[string]string{api.PhaseWiping: api.PhaseDone, api.PhaseVerifying: api.PhaseFailed}), false},
		{"root, refused at boot", mk("root", api.ResetFailed, map[string]string{api.PhaseWiping: api.PhaseFailed}), false},
		{"root, failed after the wipe", mk("root", api.ResetFailed, map[string]string{api.PhaseWiping: api.PhaseDone, api.PhaseSettings: api.PhaseFailed}), true},
	} {
		if got := needsResume(tc.j); got != tc.want {
			t.Errorf("%s: needsResume = %v", tc.name, got)
		}
	}
}
