package web

import (
	"context"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestFastJSON: the answers written without reflection are, byte for byte,
// those of writeJSON (encoding/json), strings and numbers of every kind.
func TestFastJSON(t *testing.T) {
	t.Parallel()
	same := func(name string, v any, appendJSON func([]byte) []byte) {
		t.Helper()
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(want, 200, v)
		writeJSONBytes(got, 200, appendJSON)
		if diff := cmp.Diff(want.Body.String(), got.Body.String()); diff != "" {
			t.Errorf("%s (-encoding/json +fast):\n%s", name, diff)
		}
		if diff := cmp.Diff(want.Header(), got.Header()); diff != "" {
			t.Errorf("%s headers (-encoding/json +fast):\n%s", name, diff)
		}
	}
	strs := []string{"", "vera", "viewer", `q"uote\back`, "<script>&amp;</script>", "tab\there\nnl\r\b\f\x00\x1f\x7f",
		"ünïcödé ✓ 😀", "line\u2028sep\u2029", "bad \xff\xfe utf8 \xe2\x82", "é\xc3"}
	for _, s := range strs {
		m := meResponse{Username: s, Role: s + "x"}
		same("me "+s, m, m.appendJSON)
	}
	sys, _ := fakeSys{}.Snapshot(context.Background())
	same("fake system", &sys, sys.appendJSON)
	floats := []float64{0, 1, 0.5, 0.125, 123.456, 1e-6, 1e-7, 9.99e-7, 1e20, 1e21, 1.5e300, -0.25, math.SmallestNonzeroFloat64}
	for i := 0; i+2 < len(floats); i++ {
		s := sys
		s.Load = [3]float64{floats[i], floats[i+1], floats[i+2]}
		same("loads", &s, s.appendJSON)
	}
	odd := System{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), Hostname: strs[4], OS: strs[5], Kernel: strs[8],
		UptimeSec: -1, MemTotal: math.MaxUint64, DiskPath: strs[6],
		Interfaces: []Interface{{Name: "a", State: "up"}, {Name: "b", MAC: "02:00", MTU: -5, Addrs: []string{}}, {Name: strs[7], Addrs: []string{"x", strs[4]}}}}
	same("odd system", &odd, odd.appendJSON)
	odd.Interfaces = []Interface{}
	same("no interfaces", &odd, odd.appendJSON)
	odd.Interfaces = nil
	same("nil interfaces", &odd, odd.appendJSON)
}
