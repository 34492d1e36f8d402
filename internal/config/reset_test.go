package config

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResetDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml string
		want       Reset
	}{
		{"none", "", Reset{Mode: ResetNone, KeepSettings: true}},
		{"mount", "reset: {mode: mount, services: [app.service]}\n", Reset{Mode: ResetMount, KeepSettings: true,
			Lower: "/mnt/lower", Upper: "/mnt/upper", Work: "/mnt/work", Merged: "/mnt/merged", Services: []string{"app.service"}}},
		{"mount, own paths", "reset: {mode: mount, lower: /srv/l, upper: /srv/o/u, work: /srv/o/w, merged: /srv/data, keep_settings: false}\n",
			Reset{Mode: ResetMount, Lower: "/srv/l", Upper: "/srv/o/u", Work: "/srv/o/w", Merged: "/srv/data"}},
		{"root", "backup: {dir: /media/root-rw/backups}\nreset: {mode: root, device: LABEL=data}\n", Reset{Mode: ResetRoot, KeepSettings: true, Device: "LABEL=data",
			FSType: "ext4", Persist: "/media/root-rw", Lower: "/media/root-ro", Upper: "/media/root-rw/overlay",
			Work: "/media/root-rw/overlay-workdir", Merged: "/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c.Reset); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestResetProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml string
		want       []Problem
	}{
		{"mode", "reset: {mode: overlay}\n",
			[]Problem{{Path: "reset.mode", Message: `"overlay" is not one of none, mount, root`}}},
		{"relative and unsafe paths", "reset: {mode: mount, lower: lower, upper: '/mnt/up per', work: '/mnt/a,b', merged: /mnt/m/}\n",
			[]Problem{
				{Path: "reset.lower", Message: `"lower" must be a clean absolute path`},
				{Path: "reset.upper", Message: `"/mnt/up per" may hold only printable ASCII without spaces, quotes or any of ,:\=;#%$` + "`" + `{} (overlayfs options and unit files take it literally)`},
				{Path: "reset.work", Message: `"/mnt/a,b" may hold only printable ASCII without spaces, quotes or any of ,:\=;#%$` + "`" + `{} (overlayfs options and unit files take it literally)`},
				{Path: "reset.merged", Message: `"/mnt/m/" must be a clean absolute path`},
			}},
		{"nested layers", "reset: {mode: mount, lower: /mnt/l, upper: /mnt/l/u, work: /mnt/l/w, merged: /mnt/m}\n",
			[]Problem{
				{Path: "reset.upper", Message: `"/mnt/l/u" and reset.lower "/mnt/l" must not lie inside each other`},
				{Path: "reset.work", Message: `"/mnt/l/w" and reset.lower "/mnt/l" must not lie inside each other`},
			}},
		{"work not beside upper", "reset: {mode: mount, upper: /mnt/u/upper, work: /mnt/w/work}\n",
			[]Problem{{Path: "reset.work", Message: `"/mnt/w/work" must be beside reset.upper "/mnt/u/upper" (overlayfs needs both on one filesystem)`}}},
		{"state and backups inside the overlay", "agent: {state_dir: /mnt/merged/agent}\nbackup: {dir: /mnt/upper/b}\nreset: {mode: mount}\n",
			[]Problem{
				{Path: "agent.state_dir", Message: `"/mnt/merged/agent" must not be inside reset.merged "/mnt/merged": the reset's journal would be wiped with it`},
				{Path: "backup.dir", Message: `"/mnt/upper/b" must not be inside reset.upper "/mnt/upper": a reset would wipe the backups`},
			}},
		{"options and services", "reset: {mode: mount, options: [index=off, 'upperdir=/x', 'a b', index=on], services: [app, devmgr-web.service, x.service, x.service]}\n",
			[]Problem{
				{Path: "reset.options[1]", Message: "upperdir is set from reset.lower, reset.upper and reset.work"},
				{Path: "reset.options[2]", Message: `"a b" is not an overlayfs option such as index=off (name or name=value; letters, digits, _ . + / -)`},
				{Path: "reset.options[3]", Message: "index is given twice"},
				{Path: "reset.services[0]", Message: `"app" is not a systemd unit name such as myapp.service`},
				{Path: "reset.services[1]", Message: "devmgr-web.service is devmgr's own: the reset stops and starts the console itself, and never its agent"},
				{Path: "reset.services[3]", Message: "x.service is listed twice"},
			}},
		{"root needs a device", "backup: {dir: /media/root-rw/b}\nreset: {mode: root, fstype: vfat, options: [index=off]}\n",
			[]Problem{
				{Path: "reset.options[0]", Message: "options are for mode mount; overlayroot mounts the root overlay with its own"},
				{Path: "reset.device", Message: "must name the persistent device that holds reset.upper (for example LABEL=devmgr-data or /dev/mmcblk0p3)"},
				{Path: "reset.fstype", Message: `"vfat" is not one of ext4, ext3, ext2, xfs, btrfs, f2fs`},
			}},
		{"root layers outside persist", "backup: {dir: /media/rw/b}\nreset: {mode: root, device: '/dev/sda3;reboot', upper: /overlay, persist: /media/rw}\n",
			[]Problem{
				{Path: "reset.upper", Message: `"/overlay" must lie inside reset.persist "/media/rw": the early-boot step empties it there`},
				{Path: "reset.work", Message: `"/media/root-rw/overlay-workdir" must lie inside reset.persist "/media/rw": the early-boot step empties it there`},
				{Path: "reset.device", Message: `"/dev/sda3;reboot" is neither a path under /dev nor LABEL=, UUID=, PARTUUID= or PARTLABEL= with a plain value`},
			}},
		{"root mode's backups in the root overlay", "reset: {mode: root, device: LABEL=data}\n",
			[]Problem{{Path: "backup.dir", Message: `"/var/backups/devmgr" lies in the root overlay, which a reset wipes: put it on the persistent device beside the layers, such as /media/root-rw/devmgr-backups`}}},
		{"root keys in mount mode", "reset: {mode: mount, device: /dev/sda3, persist: /media/rw}\n",
			[]Problem{
				{Path: "reset.device", Message: "is for mode root only"},
				{Path: "reset.persist", Message: "is for mode root only"},
			}},
		{"unknown key", "reset: {mode: mount, lowerdir: /x}\n",
			[]Problem{{Path: "reset.lowerdir", Line: 1, Message: `unknown key "lowerdir"`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantProblems(t, tc.yaml, tc.want)
		})
	}
}

// wantProblems parses doc and compares its problems with want.
func wantProblems(t *testing.T, doc string, want []Problem) {
	t.Helper()
	_, err := Parse([]byte(doc))
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Parse = %v, want *Problems", err)
	}
	if diff := cmp.Diff(want, ps.List); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
