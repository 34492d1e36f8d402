package mountinfo

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const table = `22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro
60 22 0:51 / /mnt/a\040b rw,nosuid,nodev,relatime shared:30 master:2 - tmpfs my\040tmpfs rw,size=1024k
61 22 0:52 / /mnt/merged rw,nosuid,relatime - overlay overlay rw,lowerdir=/mnt/lower,upperdir=/mnt/upper,workdir=/mnt/work,index=off,uuid=on
62 61 0:53 / /mnt/merged/run rw - tmpfs tmpfs rw
63 22 0:54 / /srv/data rw - overlay overlay rw,lowerdir=/l/top\072x:/l/b\054c,upperdir=/u\040p,workdir=/w
64 22 0:55 / /mnt/merged rw - tmpfs tmpfs rw
`

func TestParse(t *testing.T) {
	t.Parallel()
	ms, err := Parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	want := Mount{ID: 60, Parent: 22, Major: 0, Minor: 51, Root: "/", Point: "/mnt/a b",
		Options: []string{"rw", "nosuid", "nodev", "relatime"}, Optional: []string{"shared:30", "master:2"},
		FSType: "tmpfs", Source: "my tmpfs", Super: []string{"rw", "size=1024k"}}
	if diff := cmp.Diff(want, ms[1]); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(ms) != 6 || ms[0].Optional == nil || len(ms[2].Optional) != 0 {
		t.Errorf("%d mounts; optional fields %q, %q", len(ms), ms[0].Optional, ms[2].Optional)
	}
}

func TestLayers(t *testing.T) {
	t.Parallel()
	ms, err := Parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m    Mount
		want Layers
		ok   bool
	}{
		{ms[2], Layers{Lower: []string{"/mnt/lower"}, Upper: "/mnt/upper", Work: "/mnt/work"}, true},
		// Octal escapes inside a layer's path (a colon, a comma, a
		// space) are not separators.
		{ms[4], Layers{Lower: []string{"/l/top:x", "/l/b,c"}, Upper: "/u p", Work: "/w"}, true},
		{ms[0], Layers{}, false},
	} {
		got, ok := tc.m.Layers()
		if ok != tc.ok {
			t.Errorf("%s: ok %v", tc.m.Point, ok)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.m.Point, diff)
		}
	}
	if v, ok := ms[2].Option("index"); !ok || v != "off" {
		t.Errorf("Option(index) = %q, %v", v, ok)
	}
	if _, ok := ms[2].Option("metacopy"); ok {
		t.Error("Option(metacopy) found")
	}
	if !UsesLayer(ms[2], "/mnt/upper/") || !UsesLayer(ms[2], "/mnt/lower") || UsesLayer(ms[2], "/mnt") || UsesLayer(ms[1], "/mnt/a b") {
		t.Error("UsesLayer")
	}
}

func TestTopAndBelow(t *testing.T) {
	t.Parallel()
	ms, err := Parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	// The last mount listed at a point is the one on top.
	if m, ok := Top(ms, "/mnt/merged/"); !ok || m.ID != 64 {
		t.Errorf("Top(/mnt/merged) = %d, %v", m.ID, ok)
	}
	if _, ok := Top(ms, "/mnt/lower"); ok {
		t.Error("Top(/mnt/lower) found a mount")
	}
	var below []int
	for _, m := range Below(ms, "/mnt/merged") {
		below = append(below, m.ID)
	}
	if diff := cmp.Diff([]int{62}, below); diff != "" {
		t.Errorf("Below (-want +got):\n%s", diff)
	}
	if n := len(Below(ms, "/")); n != 5 {
		t.Errorf("Below(/) = %d mounts", n)
	}
}

// The mount that holds a path is the one on top at the longest mount
// point above it, by whole names.
func TestHolding(t *testing.T) {
	t.Parallel()
	ms, err := Parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		"/":                      22,
		"/etc/devmgr":            22,
		"/mnt/a b/c":             60,
		"/mnt/merged":            64,
		"/mnt/merged/x/y":        64,
		"/mnt/merged/run/devmgr": 62,
		"/srv/data/backups":      63,
		"/srv/database":          22,
	} {
		if m, ok := Holding(ms, path); !ok || m.ID != want {
			t.Errorf("Holding(%s) = %d, %v; want %d", path, m.ID, ok, want)
		}
	}
	if _, ok := Holding(nil, "/etc"); ok {
		t.Error("Holding found a mount in no table")
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		"22 1 8:2 / / rw shared:1 ext4 /dev/sda2 rw", // no separator
		"x 1 8:2 / / rw - ext4 /dev/sda2 rw",
		"22 1 82 / / rw - ext4 /dev/sda2 rw",
		"22 1 8:2 / / rw -",
	} {
		if _, err := Parse(strings.NewReader(line + "\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("Parse(%q) = %v", line, err)
		}
	}
}

func TestUnescape(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`/run/netns`:         "/run/netns",
		`/mnt/a\040b`:        "/mnt/a b",
		`/mnt/tab\011x\134y`: "/mnt/tab\tx\\y",
		`/mnt/odd\04`:        `/mnt/odd\04`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
