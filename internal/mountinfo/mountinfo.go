// Package mountinfo reads the kernel's mount tables (/proc/PID/mountinfo,
// proc(5)) without running a program: the mounts, their options, and an
// overlay's layers.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mount is one line of /proc/PID/mountinfo (proc(5)).
type Mount struct {
	ID, Parent   int
	Major, Minor int
	Root         string // the directory of the filesystem mounted here
	Point        string // the mount point
	Options      []string
	Optional     []string // shared:N, master:N, ...
	FSType       string
	Source       string
	Super        []string // the filesystem's own options, escaped as the kernel lists them (Option unescapes)
}

// maxMountInfo bounds what is read of a mountinfo file.
const maxMountInfo = 16 << 20

// Read reads and parses a mountinfo file, such as /proc/self/mountinfo.
func Read(path string) ([]Mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	defer f.Close()
	ms, err := Parse(io.LimitReader(f, maxMountInfo))
	if err != nil {
		return nil, fmt.Errorf("reading the mount table %s: %w", path, err)
	}
	return ms, nil
}

// Parse parses the mountinfo format: "36 35 98:0 /mnt1 /mnt2
// rw,noatime master:1 - ext3 /dev/root rw,errors=continue". Paths have
// their octal escapes (\040 for a space) undone.
func Parse(r io.Reader) ([]Mount, error) {
	var ms []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		m, err := parseMountLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", n, clip(line), err)
		}
		ms = append(ms, m)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return ms, nil
}

func parseMountLine(line string) (Mount, error) {
	f := strings.Split(line, " ")
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if len(f) < 10 || sep < 0 || len(f) < sep+4 {
		return Mount{}, fmt.Errorf("not a mountinfo line (%d fields)", len(f))
	}
	var m Mount
	var err error
	if m.ID, err = strconv.Atoi(f[0]); err != nil {
		return Mount{}, fmt.Errorf("mount ID %q is not a number", f[0])
	}
	if m.Parent, err = strconv.Atoi(f[1]); err != nil {
		return Mount{}, fmt.Errorf("parent ID %q is not a number", f[1])
	}
	maj, min, ok := strings.Cut(f[2], ":")
	if m.Major, err = strconv.Atoi(maj); !ok || err != nil {
		return Mount{}, fmt.Errorf("device %q is not MAJOR:MINOR", f[2])
	}
	if m.Minor, err = strconv.Atoi(min); err != nil {
		return Mount{}, fmt.Errorf("device %q is not MAJOR:MINOR", f[2])
	}
	m.Root, m.Point = Unescape(f[3]), Unescape(f[4])
	m.Options = strings.Split(f[5], ",")
	m.Optional = f[6:sep]
	m.FSType, m.Source = Unescape(f[sep+1]), Unescape(f[sep+2])
	// The super options are the last field, kept as the kernel escapes
	// them (see rawOption).
	m.Super = strings.Split(strings.Join(f[sep+3:], " "), ",")
	return m, nil
}

// Unescape undoes the kernel's octal escapes of mountinfo (\040 space,
// \011 tab, \012 newline, \134 backslash).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Option returns the value of the super option name ("upperdir"),
// unescaped, and whether it is there; a flag such as "rw" has the value
// "".
func (m Mount) Option(name string) (string, bool) {
	v, ok := m.rawOption(name)
	return Unescape(v), ok
}

// rawOption is Option's value as mountinfo has it. The kernel escapes a
// comma, space, tab, newline and backslash inside a value in octal, and
// overlayfs a colon inside a layer's path, so the raw text splits safely
// at "," and a lowerdir at ":".
func (m Mount) rawOption(name string) (string, bool) {
	for _, o := range m.Super {
		k, v, _ := strings.Cut(o, "=")
		if k == name {
			return v, true
		}
	}
	return "", false
}

// Layers are an overlay mount's layers as its options name them.
type Layers struct {
	Lower []string // top first
	Upper string
	Work  string
}

// Layers reads an overlay mount's lowerdir, upperdir and workdir; ok is
// false for another filesystem.
func (m Mount) Layers() (Layers, bool) {
	if m.FSType != "overlay" {
		return Layers{}, false
	}
	var l Layers
	if lower, _ := m.rawOption("lowerdir"); lower != "" {
		for _, p := range strings.Split(lower, ":") {
			l.Lower = append(l.Lower, Unescape(p))
		}
	}
	l.Upper, _ = m.Option("upperdir")
	l.Work, _ = m.Option("workdir")
	return l, true
}

// Top returns the mount on top at point (the last one listed there), if
// any.
func Top(ms []Mount, point string) (Mount, bool) {
	point = filepath.Clean(point)
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Point == point {
			return ms[i], true
		}
	}
	return Mount{}, false
}

// Holding returns the mount that holds path: the one on top at the
// longest mount point that path is or lies below. path is taken as it is
// (lexically): resolve its links first.
func Holding(ms []Mount, path string) (Mount, bool) {
	var best Mount
	found := false
	for _, m := range ms {
		// >=: of mounts at one point, the last listed is on top.
		if within(path, m.Point) && (!found || len(m.Point) >= len(best.Point)) {
			best, found = m, true
		}
	}
	return best, found
}

// Below lists the mounts strictly below dir (not at dir itself).
func Below(ms []Mount, dir string) []Mount {
	var out []Mount
	for _, m := range ms {
		if m.Point != filepath.Clean(dir) && within(m.Point, dir) {
			out = append(out, m)
		}
	}
	return out
}

// UsesLayer reports whether the overlay m has dir as its upper or work
// directory, or any lower layer.
func UsesLayer(m Mount, dir string) bool {
	l, ok := m.Layers()
	if !ok {
		return false
	}
	dir = filepath.Clean(dir)
	for _, p := range append([]string{l.Upper, l.Work}, l.Lower...) {
		if p != "" && filepath.Clean(p) == dir {
			return true
		}
	}
	return false
}

// within reports whether path is dir or lies below it (lexically).
func within(path, dir string) bool {
	p, d := filepath.Clean(path), filepath.Clean(dir)
	return p == d || d == "/" || strings.HasPrefix(p, d+"/")
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
