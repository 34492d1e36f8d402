package web

import (
	"testing"

	"github.com/devmgr/devmgr/internal/agent/api"
)

func TestRateText(t *testing.T) {
	t.Parallel()
	for in, want := range map[uint64]string{
		0: "0 bit/s", 100: "800 bit/s", 1250: "10.0 kbit/s", 1000: "8.00 kbit/s",
		117_500_000: "940.0 Mbit/s", 125_000_000: "1.00 Gbit/s",
	} {
		if got := rateText(in); got != want {
			t.Errorf("rateText(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestSparkline(t *testing.T) {
	t.Parallel()
	if sparkline([]api.TrafficSample{{RxBps: 5}}, 60, "") != nil {
		t.Errorf("one sample drew a line")
	}
	s := sparkline([]api.TrafficSample{{RxBps: 0, TxBps: 2000}, {RxBps: 4000, TxBps: 0}}, 3, "t")
	// Two samples of three start at the middle; 4000 is the peak (top, y=2).
	if s.Rx != "60.0,31.0 120.0,2.0" || s.Tx != "60.0,16.5 120.0,31.0" {
		t.Errorf("sparkline = %+v", s)
	}
	quiet := sparkline([]api.TrafficSample{{RxBps: 10}, {RxBps: 10}}, 2, "")
	if quiet.Rx != "0.0,30.7 120.0,30.7" {
		t.Errorf("a quiet link fills the chart: %+v", quiet)
	}
}
