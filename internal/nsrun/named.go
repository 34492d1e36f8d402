package nsrun

import (
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
	// Only the root of a mount can change propagation: EINVAL says dir is
	// not a mount point yet (a mount hidden by one over its parent, which
	// /proc/self/mountinfo still lists at the same path, does not count).
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) {
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mounting %s onto itself: %w", dir, err)
		}
		err = unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("making mount %s shared: %w", dir, err)
	}
	return nil
}

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
