package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func TestParseWrk(t *testing.T) {
	const out = `Running 5s test @ https://127.0.0.1:40000/api/v1/me
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.10ms   10.23ms 120.00ms   90.00%
    Req/Sec     1.22k   200.00     1.50k    70.00%
  Latency Distribution
     50%  423.00us
     75%    6.00ms
     90%   12.00ms
     99%    1.20s
  12126 requests in 5.01s, 3.10MB read
  Socket errors: connect 0, read 3, write 0, timeout 0
  Non-2xx or 3xx responses: 7
Requests/sec:   2417.21
Transfer/sec:    633.00KB
`
	got, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{requests: 12126, rps: 2417.21, p50: 423 * time.Microsecond, p99: 1200 * time.Millisecond,
		non2xx: 7, socketErrors: "connect 0, read 3, write 0, timeout 0"}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(wrkResult{})); diff != "" {
		t.Errorf("parseWrk (-want +got):\n%s", diff)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("parseWrk of a failed run: no error")
	}
}

func TestReadStatInit(t *testing.T) {
	st, err := readStat(1)
	if err != nil {
		testutil.Missing(t, "no /proc/1/stat: %v", err)
	}
	if st.ppid != 0 {
		t.Errorf("ppid of pid 1 = %d, want 0", st.ppid)
	}
}
