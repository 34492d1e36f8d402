package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// fakeAgent answers each request with its path and a count, status 200
// unless the path says otherwise; gate, when set, holds the answers.
type fakeAgent struct {
	calls atomic.Int64
	gate  chan struct{}
}

func (f *fakeAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	n := f.calls.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	status := http.StatusOK
	if strings.Contains(req.URL.Path, "missing") {
		status = http.StatusNotFound
	}
	body := req.Method + " " + req.URL.RequestURI() + " #" + string(rune('0'+n))
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

func send(t *testing.T, rt http.RoundTripper, method, path string, role string) string {
	t.Helper()
	req, _ := http.NewRequest(method, "http://agent"+path, nil)
	if role != "" {
		req.Header.Set(api.HeaderRole, role)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSharedReads: an answer of a shared read, a refusal too, is given
// again, for a second, to the same role and request; other requests,
// roles and changes go to the agent.
func TestSharedReads(t *testing.T) {
	t.Parallel()
	agent := &fakeAgent{}
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	s := newSharedReads(agent, time.Second, clock.Now)
	asks := func(want int64, what string) {
		t.Helper()
		if got := agent.calls.Load(); got != want {
			t.Errorf("%s: %d requests reached the agent, want %d", what, got, want)
		}
	}
	first := send(t, s, "GET", "/v1/interfaces", "viewer")
	if again := send(t, s, "GET", "/v1/interfaces", "viewer"); again != first {
		t.Errorf("the same read a moment later = %q, want the kept %q", again, first)
	}
	asks(1, "a read twice")
	send(t, s, "GET", "/v1/interfaces", "admin")
	send(t, s, "GET", "/v1/traffic?interface=eth0", "viewer")
	send(t, s, "GET", "/v1/traffic?interface=eth1", "viewer")
	send(t, s, "GET", "/v1/interfaces/eth0", "viewer")
	asks(5, "another role, query or path")
	send(t, s, "GET", "/v1/runs", "viewer")
	send(t, s, "GET", "/v1/runs", "viewer")
	send(t, s, "GET", "/v1/interfaces", "") // no role: not shared
	asks(8, "reads that are not shared")
	send(t, s, "GET", "/v1/interfaces/missing", "viewer")
	send(t, s, "GET", "/v1/interfaces/missing", "viewer")
	asks(9, "a refusal, kept as well")

	clock.Advance(750*time.Millisecond - time.Nanosecond)
	send(t, s, "GET", "/v1/interfaces", "viewer")
	asks(9, "a read within three quarters of a second")
	// In the last quarter, the first read asks for the next answer, which
	// is kept in its place.
	clock.Advance(time.Nanosecond)
	second := send(t, s, "GET", "/v1/interfaces", "viewer")
	if second == first {
		t.Error("the read that asked for the next answer got the old one")
	}
	asks(10, "a read in the last quarter of a second")
	clock.Advance(250 * time.Millisecond)
	if got := send(t, s, "GET", "/v1/interfaces", "viewer"); got != second {
		t.Errorf("a read a second after the first = %q, want the renewed %q", got, second)
	}
	asks(10, "a read of the renewed answer")
	clock.Advance(750 * time.Millisecond)
	if got := send(t, s, "GET", "/v1/interfaces", "viewer"); got == second {
		t.Error("a read a second after the renewal got the old answer")
	}
	asks(11, "a read a second after the renewal")

	send(t, s, "PUT", "/v1/interfaces/eth1/config", "admin")
	send(t, s, "GET", "/v1/interfaces", "viewer")
	asks(13, "a read after a change")
}

// TestSharedReadsRenewAhead: while one caller asks for the next answer,
// the others are given the kept one at once; a failed renewal gives the
// caller the kept answer, and the next caller tries again.
func TestSharedReadsRenewAhead(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	var (
		calls   atomic.Int64
		hold    = make(chan struct{})
		holding = make(chan struct{})
		fail    atomic.Bool
	)
	agent := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		n := calls.Add(1)
		if n == 2 {
			close(holding)
			<-hold
		}
		if fail.Load() {
			return nil, errors.New("agent gone")
		}
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(fmt.Sprint("answer ", n))), Request: req}, nil
	})
	s := newSharedReads(agent, time.Second, clock.Now)
	if got := send(t, s, "GET", "/v1/interfaces", "viewer"); got != "answer 1" {
		t.Fatalf("first read: %q", got)
	}
	clock.Advance(800 * time.Millisecond)
	renewed := make(chan string)
	go func() { renewed <- send(t, s, "GET", "/v1/interfaces", "viewer") }()
	<-holding // the renewal is being asked
	for range 3 {
		if got := send(t, s, "GET", "/v1/interfaces", "viewer"); got != "answer 1" {
			t.Errorf("a read during the renewal = %q, want the kept answer 1 at once", got)
		}
	}
	close(hold)
	if got := <-renewed; got != "answer 2" {
		t.Errorf("the renewing read = %q, want answer 2", got)
	}
	if got := send(t, s, "GET", "/v1/interfaces", "viewer"); got != "answer 2" || calls.Load() != 2 {
		t.Errorf("a read after the renewal = %q after %d requests, want answer 2 after 2", got, calls.Load())
	}

	// The agent fails: the renewing caller is given the kept answer, and
	// the next one tries again.
	clock.Advance(800 * time.Millisecond)
	fail.Store(true)
	if got := send(t, s, "GET", "/v1/interfaces", "viewer"); got != "answer 2" {
		t.Errorf("a failed renewal gave %q, want the kept answer 2", got)
	}
	if send(t, s, "GET", "/v1/interfaces", "viewer"); calls.Load() != 4 {
		t.Errorf("%d requests after a failed renewal and one more read, want 4", calls.Load())
	}
}

// TestSharedReadsWaiters: readers asking while the agent is asked wait for
// that one answer; a change made meanwhile keeps it from being kept.
func TestSharedReadsWaiters(t *testing.T) {
	t.Parallel()
	agent := &fakeAgent{gate: make(chan struct{})}
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	s := newSharedReads(agent, time.Second, clock.Now)
	const readers = 20
	var wg sync.WaitGroup
	answers := make([]string, readers)
	for i := range readers {
		wg.Go(func() { answers[i] = send(t, s, "GET", "/v1/ap", "viewer") })
	}
	// All but the first wait; let the first answer once they do.
	for agent.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		close(agent.gate)
	}()
	wg.Wait()
	for i, a := range answers {
		if a != answers[0] {
			t.Errorf("reader %d got %q, reader 0 %q", i, a, answers[0])
		}
	}
	if n := agent.calls.Load(); n >= readers {
		t.Errorf("%d readers asked the agent %d times, want fewer (they wait for one answer)", readers, n)
	}

	// A change while a read is asked: that answer is not kept.
	agent2 := &fakeAgent{gate: make(chan struct{})}
	s = newSharedReads(agent2, time.Second, clock.Now)
	done := make(chan string)
	go func() { done <- send(t, s, "GET", "/v1/ap", "viewer") }()
	for agent2.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	s.forget() // what a PUT does as it starts
	close(agent2.gate)
	<-done
	send(t, s, "GET", "/v1/ap", "viewer")
	if n := agent2.calls.Load(); n != 2 {
		t.Errorf("the agent was asked %d times, want 2: an answer begun before a change is not kept", n)
	}
}

// TestSharedReadsLeaving: a reader that leaves while it asks does not
// hand its cancellation to those waiting for its answer.
func TestSharedReadsLeaving(t *testing.T) {
	t.Parallel()
	agent := &cancelAgent{}
	s := newSharedReads(agent, time.Second, time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://agent/v1/ap", nil)
	req.Header.Set(api.HeaderRole, "viewer")
	errc := make(chan error)
	go func() {
		_, err := s.RoundTrip(req)
		errc <- err
	}()
	for agent.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	waiter := make(chan string)
	go func() { waiter <- send(t, s, "GET", "/v1/ap", "viewer") }()
	time.Sleep(10 * time.Millisecond) // the second reader waits for the first's answer
	cancel()
	if err := <-errc; err == nil {
		t.Error("the reader that left got an answer")
	}
	if got := <-waiter; !strings.HasPrefix(got, "ok") {
		t.Errorf("the waiting reader got %q, want its own answer", got)
	}
}

// cancelAgent holds the first request until its caller leaves, and
// answers the others at once.
type cancelAgent struct{ calls atomic.Int64 }

func (c *cancelAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.calls.Add(1) == 1 {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

// TestSharedReadsDecodedOnce: typed calls given the same kept answer share
// one decoded value.
func TestSharedReadsDecodedOnce(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	c := sharedClient(&calls, http.StatusOK, `[{"name":"eth0","addresses":["192.0.2.1/24"]}]`)
	viewer := api.Actor{User: "vera", Role: "viewer"}
	a, err := c.Interfaces(context.Background(), viewer)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Interfaces(context.Background(), viewer)
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || len(a) != 1 || len(b) != 1 || a[0].Name != "eth0" || &a[0] != &b[0] {
		t.Errorf("two reads: %d agent calls, %+v and %+v, want one call and one shared value", calls.Load(), a, b)
	}
}

// sharedClient is a client with shared reads of an agent that answers
// every request with status and the JSON body, counting them in calls.
func sharedClient(calls *atomic.Int64, status int, body string) *Client {
	agent := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		calls.Add(1)
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
	})
	return &Client{socket: "test", hc: &http.Client{Transport: newSharedReads(agent, time.Second, time.Now)}}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSharedReadsRefusal: a kept refusal is given to a typed call as the
// agent's error, as the first caller got it.
func TestSharedReadsRefusal(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	c := sharedClient(&calls, http.StatusServiceUnavailable, `{"error":"hostapd is not running"}`)
	for range 2 {
		_, err := c.AP(context.Background(), api.Actor{User: "vera", Role: "viewer"})
		var e *api.Error
		if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || e.Message != "hostapd is not running" {
			t.Errorf("AP = %v, want the agent's 503", err)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("%d agent calls, want 1", calls.Load())
	}
}

// TestKept: a proxy is given the kept answer of a shared read for the
// same role and request, and nothing once a change made the client
// forget it (and moved its generation), or for another role.
func TestKept(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	c := sharedClient(&calls, http.StatusOK, `[{"name":"eth0"}]`)
	if _, _, _, ok := c.Kept("viewer", "/v1/interfaces"); ok {
		t.Fatal("an answer is kept before any read")
	}
	if _, err := c.Interfaces(context.Background(), api.Actor{User: "vera", Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	status, h, body, ok := c.Kept("viewer", "/v1/interfaces")
	if !ok || status != http.StatusOK || string(body) != `[{"name":"eth0"}]` || h.Get("Content-Type") != "application/json" {
		t.Errorf("kept: %v %d %v %q", ok, status, h, body)
	}
	if _, _, _, ok := c.Kept("admin", "/v1/interfaces"); ok {
		t.Error("another role's read was given the viewer's answer")
	}
	gen, ok := c.Generation()
	c.hc.Transport.(*sharedReads).forget() // what a change does
	if _, _, _, ok := c.Kept("viewer", "/v1/interfaces"); ok {
		t.Error("an answer is kept after a change")
	}
	if after, _ := c.Generation(); !ok || after == gen {
		t.Errorf("generation %d (%v) before a change and %d after", gen, ok, after)
	}
	if _, ok := (&Client{hc: &http.Client{}}).Generation(); ok {
		t.Error("a client without shared reads counts its changes")
	}
	if plain := (&Client{hc: &http.Client{}}); func() bool { _, _, _, ok := plain.Kept("viewer", "/v1/interfaces"); return ok }() {
		t.Error("a client without shared reads keeps answers")
	}
}
