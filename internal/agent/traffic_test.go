package agent

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/traffic"
)

// fakeTraffic serves canned series and records its Run.
type fakeTraffic struct {
	mu      sync.Mutex
	running bool
	ran     bool
	since   []time.Time
	series  []traffic.Series
}

func (f *fakeTraffic) Run(ctx context.Context) {
	f.mu.Lock()
	f.running, f.ran = true, true
	f.mu.Unlock()
	<-ctx.Done()
	time.Sleep(10 * time.Millisecond) // a slow stop: Serve must wait for it
	f.mu.Lock()
	f.running = false
	f.mu.Unlock()
}

func (f *fakeTraffic) state() (running, ran bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running, f.ran
}

func (f *fakeTraffic) All(since time.Time) []traffic.Series {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.since = append(f.since, since)
	return f.series
}

func (f *fakeTraffic) Rate(name string) (rx, tx uint64, ok bool) {
	for _, s := range f.series {
		if s.Name == name && len(s.Samples) > 0 {
			last := s.Samples[len(s.Samples)-1]
			return last.RxRate, last.TxRate, true
		}
	}
	return 0, 0, false
}

func (f *fakeTraffic) Interval() time.Duration { return 10 * time.Second }

// GET /v1/traffic shows the history to every role, one interface or the
// samples since a time when asked; interfaces carry the latest rates;
// Serve runs the history and stops it before it returns.
func TestTraffic(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	ft := &fakeTraffic{series: []traffic.Series{
		{Name: "eth0", Samples: []traffic.Sample{}},
		{Name: "eth1", Samples: []traffic.Sample{{T: t0, RxRate: 1000, TxRate: 10}, {T: t0.Add(10 * time.Second), RxRate: 2000, TxRate: 20}}},
	}}
	ta := newTestAgent(t)
	ta.net.ifs = []Interface{{Name: "eth0", Addresses: []string{}}, {Name: "eth1", Addresses: []string{}, Role: RoleLAN}}
	ta.start(func(c *Config) { c.Traffic = ft })
	ctx := context.Background()
	c := ta.client

	got, err := c.Traffic(ctx, viewer, "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := api.Traffic{IntervalSeconds: 10, Interfaces: []api.TrafficSeries{
		{Name: "eth0", Samples: []api.TrafficSample{}},
		{Name: "eth1", RxRate: 2000, TxRate: 20, Samples: []api.TrafficSample{
			{T: 1_800_000_000, RxBps: 1000, TxBps: 10}, {T: 1_800_000_010, RxBps: 2000, TxBps: 20},
		}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("traffic (-want +got):\n%s", diff)
	}
	got, err = c.Traffic(ctx, viewer, "eth1", t0.Add(5*time.Second))
	if err != nil || len(got.Interfaces) != 1 || got.Interfaces[0].Name != "eth1" {
		t.Errorf("traffic of eth1: %+v %v", got, err)
	}
	if n := len(ft.since); n != 2 || !ft.since[1].Equal(t0.Add(5*time.Second)) {
		t.Errorf("asked the history since %v", ft.since)
	}
	if got, err := c.Traffic(ctx, viewer, "eth7", time.Time{}); err != nil || got.Interfaces == nil || len(got.Interfaces) != 0 {
		t.Errorf("traffic of an interface without history: %+v %v, want an empty list", got, err)
	}
	for _, tt := range []struct {
		query, field string
	}{
		{"?interface=../x", "interface"},
		{"?interface=averyveryverylongname", "interface"},
		{"?since=yesterday", "since"},
		{"?since=-5", "since"},
	} {
		if status, e := raw(t, ta.socket, "GET", "/v1/traffic"+tt.query, &viewer, ""); status != http.StatusBadRequest || e.Field != tt.field {
			t.Errorf("GET /v1/traffic%s = %d %+v, want 400 naming %s", tt.query, status, e, tt.field)
		}
	}
	if status, _ := raw(t, ta.socket, "GET", "/v1/traffic", nil, ""); status != http.StatusBadRequest {
		t.Errorf("without an actor: %d, want 400", status)
	}

	ifs, err := c.Interfaces(ctx, viewer)
	if err != nil {
		t.Fatal(err)
	}
	if ifs[0].RxRate != nil || ifs[1].RxRate == nil || *ifs[1].RxRate != 2000 || *ifs[1].TxRate != 20 {
		t.Errorf("rates of the interfaces: %+v", ifs)
	}
	if i, err := c.Interface(ctx, viewer, "eth1"); err != nil || i.TxRate == nil || *i.TxRate != 20 {
		t.Errorf("rates of eth1: %+v %v", i, err)
	}

	// Serve runs the history while it serves and waits for it to stop.
	if running, _ := ft.state(); !running {
		t.Error("the traffic history is not running")
	}
	ta.stop()
	if running, ran := ft.state(); running || !ran {
		t.Errorf("after Serve returned: running %v, ran %v", running, ran)
	}
}

func TestNoTraffic(t *testing.T) {
	ta := startAgent(t, nil)
	if _, err := ta.client.Traffic(context.Background(), viewer, "", time.Time{}); !IsStatus(err, http.StatusServiceUnavailable) {
		t.Errorf("traffic without a history: %v, want 503", err)
	}
	if ifs, err := ta.client.Interfaces(context.Background(), viewer); err != nil || ifs[0].RxRate != nil {
		t.Errorf("interfaces without a history: %+v %v", ifs, err)
	}
}
