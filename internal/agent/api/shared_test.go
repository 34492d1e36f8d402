package api

import "testing"

// TestSharedReadsAreReads: every shared read is a GET route of the table
// that records nothing.
func TestSharedReadsAreReads(t *testing.T) {
	for _, p := range SharedReads {
		r, ok := Lookup(p)
		if !ok {
			t.Errorf("shared read %q is not a route", p)
			continue
		}
		if r.Method != "GET" || r.Action != "" || r.Stream || r.Events || r.Min == "" {
			t.Errorf("shared read %q: %+v, want a GET with a least role and no action, not streamed", p, r)
		}
	}
}
