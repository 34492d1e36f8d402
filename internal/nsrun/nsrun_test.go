package nsrun

import (
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func TestDo(t *testing.T) {
	testutil.RequireRoot(t)
	ns := newNS(t)

	var names []string
	if err := Do(ns, func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "lo" {
		t.Errorf("interfaces in a new namespace: %v, want only lo", names)
	}

	want := errors.New("from fn")
	if err := Do(ns, func() error { return want }); !errors.Is(err, want) {
		t.Errorf("Do returned %v, want fn's error", err)
	}
	if err := Do(ns, func() error { panic("boom") }); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a panic in fn gave %v", err)
	}
}

// newNS makes an empty network namespace without entering it.
func newNS(t *testing.T) netns.NsHandle {
	t.Helper()
	c := make(chan netns.NsHandle, 1)
	go func() {
		runtime.LockOSThread() // the thread ends in the new namespace; never unlocked
		ns, err := netns.New()
		if err != nil {
			t.Errorf("new namespace: %v", err)
		}
		c <- ns
	}()
	ns := <-c
	if !ns.IsOpen() {
		t.FailNow()
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}
