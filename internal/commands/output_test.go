package commands

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOutput(t *testing.T) {
	t.Parallel()
	o := newOutput(64)
	_, ended, more := o.since(0)
	if ended {
		t.Fatal("a new output has ended")
	}
	o.add(t0, "one", false)
	select {
	case <-more:
	default:
		t.Fatal("a reader was not woken by a line")
	}
	o.add(t0, strings.Repeat("x", 50), true) // a cut line: kept, truncated
	o.add(t0, "too long for what is left", false)
	o.add(t0, "a", false) // fits, but the output is a prefix: dropped
	lines, size, truncated := o.snapshot()
	if diff := cmp.Diff([]string{"one", strings.Repeat("x", 50)}, texts(lines)); diff != "" || size != 55 || !truncated {
		t.Errorf("kept %q (%d bytes, truncated %v)", texts(lines), size, truncated)
	}
	if got, _, _ := o.since(1); len(got) != 1 || got[0].Seq != 2 {
		t.Errorf("since(1) = %+v", got)
	}
	if got, _, _ := o.since(99); len(got) != 0 {
		t.Errorf("since past the end = %+v", got)
	}
	o.end()
	o.end()
	for range 2 {
		_, ended, more := o.since(2)
		select {
		case <-more:
		default:
			t.Fatal("a reader of an ended output would wait")
		}
		if !ended {
			t.Error("not ended")
		}
	}
}

// Empty lines cost too: a flood of them stops at limit/lineCost lines.
func TestOutputLineCap(t *testing.T) {
	t.Parallel()
	o := newOutput(1024)
	for range 10_000 {
		o.add(t0, "", false)
	}
	if lines, _, truncated := o.snapshot(); len(lines) != 1024/lineCost || !truncated {
		t.Errorf("%d empty lines kept, truncated %v", len(lines), truncated)
	}
}
