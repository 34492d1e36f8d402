package agent

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
)

// emitLinesArg makes this test binary a command of the benchmark below
// (TestMain): after a pause it prints COUNT lines, each the wall-clock
// time it is written in Unix nanoseconds, INTERVAL apart.
const emitLinesArg = "devmgr-emit-lines"

func emitLines(args []string) int {
	if len(args) != 3 {
		return 2
	}
	pause, err1 := time.ParseDuration(args[0])
	count, err2 := strconv.Atoi(args[1])
	every, err3 := time.ParseDuration(args[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return 2
	}
	time.Sleep(pause) // the follower connects meanwhile
	for range count {
		fmt.Println(time.Now().UnixNano()) // one write each: stdout is not buffered
		time.Sleep(every)
	}
	return 0
}

// BenchmarkCommandLineLatency measures the time from a line written by a
// command to its arrival at an event-stream client of the agent's socket
// (the console's proxy passes each event on as it comes), with four runs
// streaming at once, each 50 lines 5 ms apart. It reports the
// percentiles of every line's latency (p50_ms, p99_ms, max_ms); the
// issue's bound is a p99 under 100 ms. As root (the socket lets root in).
func BenchmarkCommandLineLatency(b *testing.B) {
	const runs, lines = 4, 50
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	emit := config.Command{ID: "emit", Title: "Emit", Argv: []string{exe, emitLinesArg, "100ms", strconv.Itoa(lines), "5ms"},
		Roles: []auth.Role{auth.Operator}, Timeout: time.Minute, OutputLimit: config.DefaultOutputLimit}
	ta, _ := startCommands(b, []config.Command{emit}, func(o *commandsOptions) { o.MaxRuns = runs })
	cl, ctx := ta.client, context.Background()

	var mu sync.Mutex
	var lat []time.Duration
	for b.Loop() {
		var wg sync.WaitGroup
		for i := range runs {
			a := api.Actor{User: fmt.Sprintf("bench%d", i), Role: auth.Operator, Source: "bench"}
			st, err := cl.StartRun(ctx, a, "emit", nil)
			if err != nil {
				b.Fatal(err)
			}
			wg.Go(func() {
				res, err := cl.FollowRun(ctx, a, st.RunID, 0, func(_ int64, text string) {
					now := time.Now().UnixNano()
					if ns, err := strconv.ParseInt(text, 10, 64); err == nil {
						mu.Lock()
						lat = append(lat, time.Duration(now-ns))
						mu.Unlock()
					}
				})
				if err != nil || res.Status != api.RunOK || res.Lines != lines {
					b.Errorf("run %d: %+v %v", st.RunID, res, err)
				}
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == 0 {
		b.Fatal("no line arrived")
	}
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max_ms")
	b.ReportMetric(float64(len(lat)), "lines")
}
