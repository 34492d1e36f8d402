package testutil

import (
	"fmt"
	"testing"
	"time"
)

// Eventually polls cond until it reports true and fails the test if it does
// not within timeout (modelled on tailscale's tstest.WaitFor). The poll
// interval starts at a millisecond and doubles up to 100 ms, so a condition
// that is met at once costs nothing and a slow one does not spin.
//
// msg describes what was awaited: a format string and its arguments, or a
// single func() string called at the deadline to report the last state.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, message(msg))
		}
		time.Sleep(wait)
		wait = min(2*wait, 100*time.Millisecond)
	}
}

func message(msg []any) string {
	if len(msg) == 0 {
		return "condition"
	}
	if f, ok := msg[0].(func() string); ok && len(msg) == 1 {
		return f()
	}
	if format, ok := msg[0].(string); ok {
		return fmt.Sprintf(format, msg[1:]...)
	}
	return fmt.Sprint(msg...)
}
