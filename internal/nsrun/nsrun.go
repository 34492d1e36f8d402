// Package nsrun runs Go code inside a network namespace, on an OS thread
// locked for the purpose, so that netlink handles and sockets opened there
// belong to that namespace.
package nsrun

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn on a locked OS thread inside ns and returns fn's error (a
// panic in fn becomes an error). The thread is discarded if it cannot be
// moved back.
func Do(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("getting current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering network namespace: %w", err)
			return
		}
		var ferr error
		func() {
			defer func() {
				if r := recover(); r != nil {
					ferr = fmt.Errorf("panic in namespace: %v", r)
				}
			}()
			ferr = fn()
		}()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it exits with this goroutine, so no
			// other goroutine ever runs in the wrong namespace.
			errc <- errors.Join(ferr, fmt.Errorf("returning to network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
