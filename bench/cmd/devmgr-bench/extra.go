package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/devmgr/devmgr/internal/config"
)

// memory is the memory of a server's processes, summed: RSS and PSS
// (shared pages divided among the processes that map them) from
// /proc/PID/smaps_rollup, in KiB.
type memory struct{ rss, pss uint64 }

func readMemory(pids map[int]string) memory {
	var m memory
	for pid := range pids {
		m.rss += fieldKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Rss")
		m.pss += pssKB(pid)
	}
	return m
}

func (m memory) max(o memory) memory { return memory{max(m.rss, o.rss), max(m.pss, o.pss)} }

// loadavg is the machine's load average now: "1.00 0.50 0.25".
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// sampler reads a server's memory every interval until stopped and keeps
// the largest reading; VmHWM, reset at its start (as root: clear_refs),
// catches a peak between readings.
type sampler struct {
	peak memory
	hwm  uint64 // KiB, VmHWM summed after the reset; 0 when it could not be reset
	stop func()
}

func sample(procs map[int]string, every time.Duration) *sampler {
	s := &sampler{}
	reset := true
	for pid := range procs {
		// 5 resets the peak RSS (VmHWM) to the current RSS.
		if os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) != nil {
			reset = false
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.peak = s.peak.max(readMemory(procs))
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	s.stop = func() {
		cancel()
		<-done
		s.peak = s.peak.max(readMemory(procs))
		if reset {
			for pid := range procs {
				s.hwm += statusKB(pid, "VmHWM")
			}
		}
	}
	return s
}

// burstResult is a burst of logins and the memory around it.
type burstResult struct {
	logins, failed int
	took           time.Duration
	loadAtStart    string
	before         memory
	peak           memory
	hwm            uint64 // KiB, VmHWM summed during the burst (0: unknown)
	after          memory // burstAfter after the burst ended
}

// burstAfter is how long after a burst of logins its memory is read again.
const burstAfter = 30 * time.Second

// burst signs in n times at once, as the bench user, and reads the memory
// before, during (its peak) and burstAfter after.
func burst(ctx context.Context, t target, n int) (*burstResult, error) {
	procs := t.procs()
	r := &burstResult{logins: n, loadAtStart: loadavg(), before: readMemory(procs)}
	cookieName, _, _ := strings.Cut(t.cookie, "=")
	smp := sample(procs, 50*time.Millisecond)
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range n {
		wg.Go(func() {
			if _, err := login(ctx, t.base, cookieName, t.password); err != nil {
				mu.Lock()
				r.failed++
				firstErr = cmpOr(firstErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.took = time.Since(start)
	smp.stop()
	r.peak, r.hwm = smp.peak, smp.hwm
	log.Printf("%s: %d logins at once in %s (%d failed), memory peak PSS %s RSS %s (VmHWM %s)", t.name, n, r.took.Round(time.Millisecond),
		r.failed, mb(r.peak.pss), mb(r.peak.rss), mb(r.hwm))
	if err := sleep(ctx, burstAfter-time.Since(start.Add(r.took))); err != nil {
		return nil, err
	}
	r.after = readMemory(procs)
	if r.failed > 0 {
		log.Printf("%s: a login of the burst failed: %v", t.name, firstErr)
	}
	return r, nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// longResult is one endpoint under many connections for a long time.
type longResult struct {
	path        string
	conns       int
	d           time.Duration
	loadAtStart string
	wrk         wrkResult
	cpu         time.Duration
	peak        memory
	hwm         uint64
}

func (r longResult) cpuPerRequest() time.Duration {
	if r.wrk.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.wrk.requests)
}

func (r longResult) errors() string {
	if r.wrk.non2xx == 0 && r.wrk.socketErrors == "" {
		return "0"
	}
	e := fmt.Sprintf("%d not 2xx", r.wrk.non2xx)
	if r.wrk.socketErrors != "" {
		e += "; socket errors: " + r.wrk.socketErrors
	}
	return e
}

func (r longResult) ok() bool {
	if r.wrk.non2xx > 0 {
		return false
	}
	for _, f := range strings.Split(r.wrk.socketErrors, ",") {
		if _, n, ok := strings.Cut(strings.TrimSpace(f), " "); ok && n != "0" {
			return false
		}
	}
	return true
}

// long runs wrk with conns keep-alive connections for d on path, reading
// the memory as it goes. Errors are counted, not fatal: they are results.
func long(ctx context.Context, t target, path string, conns int, d time.Duration) (longResult, error) {
	procs := t.procs()
	pids := slices.Collect(maps.Keys(procs))
	r := longResult{path: path, conns: conns, d: d, loadAtStart: loadavg()}
	before := sumStat(pids)
	smp := sample(procs, 500*time.Millisecond)
	w, err := runWrk(ctx, d, load{2, conns}, t, path)
	smp.stop()
	if err != nil {
		return r, err
	}
	r.wrk, r.peak, r.hwm = w, smp.peak, smp.hwm
	r.cpu = time.Duration(sumStat(pids).cpu-before.cpu) * clockTick
	log.Printf("%s %s -c%d -d%s: %.0f req/s, p50 %s, p99 %s, errors %s, memory peak PSS %s RSS %s (VmHWM %s)", t.name, path, conns, d,
		w.rps, w.p50, w.p99, r.errors(), mb(r.peak.pss), mb(r.peak.rss), mb(r.hwm))
	return r, nil
}

// coldResult is the time from exec to the first authenticated answer.
type coldResult struct {
	runs        []time.Duration
	loadAtStart string
}

func (c coldResult) median() time.Duration {
	s := slices.Clone(c.runs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func (c coldResult) worst() time.Duration {
	if len(c.runs) == 0 {
		return 0
	}
	return slices.Max(c.runs)
}

// coldStart starts another console on the same data n times, each time
// timing from exec to its first 200 to the signed-in session's GET
// /api/v1/me.
func coldStart(ctx context.Context, t target, n int) (*coldResult, error) {
	r := &coldResult{loadAtStart: loadavg()}
	for range n {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		d, err := coldOnce(ctx, t, addr)
		if err != nil {
			return nil, err
		}
		r.runs = append(r.runs, d)
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
	log.Printf("%s: cold start to the first authenticated answer: median %s, worst %s of %d", t.name, r.median(), r.worst(), n)
	return r, nil
}

func coldOnce(ctx context.Context, t target, addr string) (time.Duration, error) {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/api/v1/me", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Cookie", t.cookie)
	start := time.Now()
	cmd, err := t.serve(addr)
	if err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	for {
		res, err := c.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
			return 0, fmt.Errorf("cold start: GET /api/v1/me = %s", res.Status)
		}
		select {
		case err := <-exited:
			return 0, fmt.Errorf("cold start: devmgr serve exited: %v", err)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if time.Since(start) > 30*time.Second {
			return 0, errors.New("cold start: no answer within 30s")
		}
	}
}

// coldServe execs `devmgr serve` on a copy of the console's config that
// listens on addr, as cred (the web user, when root).
func coldServe(bin, cfgPath, copyPath, addr string, cred *syscall.Credential) (*exec.Cmd, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	cfg.Web.Listen = addr
	cfg.Web.RedirectListen = ""
	b, err := config.Marshal(cfg, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(copyPath, b, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", copyPath)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "DEVMGR_CONFIG=") })
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM, Credential: cred}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting devmgr serve: %w", err)
	}
	return cmd, nil
}
