package nsrun

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RunDir is where named network namespaces live, as with `ip netns`.
const RunDir = "/run/netns"

// prepared records that RunDir was made a shared mount point in this
// process's mount namespace; a failed attempt is retried on the next call.
var prepared struct {
	sync.Mutex
	done bool
}

// PrepareRunDir makes RunDir a mount point of its own with shared
// propagation, as iproute2 does before its first `ip netns add`. Once per
// process; later calls do nothing.
//
// Why: a namespace file mounted in a plain RunDir is hidden when a later
// `ip netns` bind-mounts RunDir over itself, and can then be neither
// unmounted nor removed through its path ("device or resource busy").
func PrepareRunDir() error {
	prepared.Lock()
	defer prepared.Unlock()
	if prepared.done {
		return nil
	}
	if err := prepareRunDir(RunDir); err != nil {
		return err
	}
	prepared.done = true
	return nil
}

func prepareRunDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("making %s: %w", dir, err)
	}
	mounted, err := isMountPoint(dir)
	if err != nil {
		return err
	}
	if !mounted {
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mounting %s onto itself: %w", dir, err)
		}
	}
	if err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making mount %s shared: %w", dir, err)
	}
	return nil
}

// isMountPoint reports whether dir is a mount point in this process's mount
// namespace, from /proc/self/mountinfo (field 5, octal-escaped).
func isMountPoint(dir string) (bool, error) {
	mps, err := MountPoints()
	if err != nil {
		return false, err
	}
	for _, mp := range mps {
		if mp == dir {
			return true, nil
		}
	}
	return false, nil
}

// MountPoints lists the mount points of this process's mount namespace, in
// /proc/self/mountinfo's order (a path mounted over twice appears twice).
func MountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mount table: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			return nil, fmt.Errorf("parsing mountinfo line %q", sc.Text())
		}
		out = append(out, unescapeMountinfo(fields[4]))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mount table: %w", err)
	}
	return out, nil
}

// unescapeMountinfo undoes the kernel's \ooo escapes (space, tab, newline,
// backslash) in a mountinfo path.
func unescapeMountinfo(s string) string {
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

// NewNamed creates a network namespace bound at RunDir/name (as `ip netns
// add` does) and returns an open handle on it; no thread is left in it.
// RunDir is prepared first (PrepareRunDir). Every named namespace of
// devmgr's labs and tests is made here.
func NewNamed(name string) (netns.NsHandle, error) {
	if name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return netns.None(), fmt.Errorf("creating network namespace: invalid name %q", name)
	}
	if err := PrepareRunDir(); err != nil {
		return netns.None(), fmt.Errorf("creating network namespace %s: %w", name, err)
	}
	path := filepath.Join(RunDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return netns.None(), fmt.Errorf("creating network namespace %s: %w", name, err)
	}
	f.Close()

	type res struct {
		ns  netns.NsHandle
		err error
	}
	c := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			c <- res{err: fmt.Errorf("getting current network namespace: %w", err)}
			return
		}
		defer orig.Close()
		ns, err := netns.New()
		if err != nil {
			// New may have failed after switching: check before unlocking.
			if serr := netns.Set(orig); serr != nil {
				c <- res{err: errors.Join(err, fmt.Errorf("returning to network namespace: %w", serr))}
				return
			}
			runtime.UnlockOSThread()
			c <- res{err: fmt.Errorf("unsharing network namespace: %w", err)}
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		merr := unix.Mount(self, path, "none", unix.MS_BIND, "")
		if serr := netns.Set(orig); serr != nil {
			// Keep the thread locked: it dies with this goroutine, so no
			// other goroutine ever runs in the new namespace.
			ns.Close()
			if merr == nil {
				merr = unix.Unmount(path, unix.MNT_DETACH)
			}
			c <- res{err: errors.Join(merr, fmt.Errorf("returning to network namespace: %w", serr))}
			return
		}
		runtime.UnlockOSThread()
		if merr != nil {
			ns.Close()
			c <- res{err: fmt.Errorf("bind-mounting namespace onto %s: %w", path, merr)}
			return
		}
		c <- res{ns: ns}
	}()
	r := <-c
	if r.err != nil {
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			r.err = errors.Join(r.err, fmt.Errorf("removing %s: %w", path, rerr))
		}
		return netns.None(), fmt.Errorf("creating network namespace %s: %w", name, r.err)
	}
	return r.ns, nil
}

// DeleteNamed unmounts and removes RunDir/name (as `ip netns del` does); a
// namespace that does not exist is not an error. Processes still in it keep
// it alive.
func DeleteNamed(name string) error {
	if name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return fmt.Errorf("deleting network namespace: invalid name %q", name)
	}
	path := filepath.Join(RunDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting network namespace %s: %w", name, err)
	}
	return nil
}
