package vm

import (
	"context"
	"os"
	"strings"
	"testing"
)

// FakeRunner answers each argv (joined with spaces) from a table and fails
// the test on anything else.
type FakeRunner struct {
	T       testing.TB
	Answers map[string]string
}

// Run implements Runner.
func (f FakeRunner) Run(_ context.Context, _, name string, args ...string) ([]byte, error) {
	argv := strings.Join(append([]string{name}, args...), " ")
	out, ok := f.Answers[argv]
	if !ok {
		f.T.Errorf("unexpected command %q", argv)
		return nil, os.ErrNotExist
	}
	return []byte(out), nil
}
