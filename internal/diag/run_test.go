package diag

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

type timedLine struct {
	at   time.Time
	text string
}

// TestPingStreams runs the real ping against loopback and checks that lines
// arrive as ping prints them, not all at the end.
func TestPingStreams(t *testing.T) {
	testutil.RequireBinary(t, "ping")
	var lines []timedLine
	start := time.Now()
	res, err := Ping(context.Background(), ExecRunner{}, PingRequest{Host: "127.0.0.1", Count: 3}, func(s string) {
		lines = append(lines, timedLine{time.Now(), s})
	})
	end := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("exit code %d, output %v", res.ExitCode, lines)
	}
	var replies []timedLine
	for _, l := range lines {
		if strings.Contains(l.text, "bytes from 127.0.0.1") {
			replies = append(replies, l)
		}
	}
	if len(replies) != 3 {
		t.Fatalf("%d reply lines, want 3: %v", len(replies), lines)
	}
	if !strings.HasPrefix(lines[0].text, "PING 127.0.0.1") {
		t.Errorf("first line %q", lines[0].text)
	}
	if !strings.Contains(lines[len(lines)-1].text, "rtt") {
		t.Errorf("last line %q, want the rtt summary", lines[len(lines)-1].text)
	}
	// Replies come a second apart; the first must have been passed on
	// long before ping ended.
	if d := end.Sub(replies[0].at); d < 1500*time.Millisecond {
		t.Errorf("first reply passed on %v before the end (after %v): not streamed", d, replies[0].at.Sub(start))
	}
	if res.DurationMS < 1500 {
		t.Errorf("duration %d ms, want about 2000", res.DurationMS)
	}
}

func TestPingFailureIsAResult(t *testing.T) {
	testutil.RequireBinary(t, "ping")
	// nothing.invalid never resolves: ping exits 2 with a message.
	var out []string
	res, err := Ping(context.Background(), ExecRunner{}, PingRequest{Host: "nothing.invalid", Count: 1}, func(s string) { out = append(out, s) })
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode == 0 || len(out) == 0 {
		t.Errorf("exit %d output %q, want a failure with a message", res.ExitCode, out)
	}
}

func TestTracerouteLoopback(t *testing.T) {
	testutil.RequireBinary(t, "traceroute")
	var out []string
	res, err := Traceroute(context.Background(), ExecRunner{}, TracerouteRequest{Host: "127.0.0.1", MaxHops: 3}, func(s string) { out = append(out, s) })
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || len(out) < 2 || !strings.HasPrefix(out[0], "traceroute to 127.0.0.1") || !strings.Contains(out[1], "127.0.0.1") {
		t.Errorf("exit %d output %q", res.ExitCode, out)
	}
}

func TestRunnerTimeout(t *testing.T) {
	testutil.RequireBinary(t, "sleep")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := ExecRunner{}.Run(ctx, []string{"sleep", "10"}, func(string) {})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline error", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

func TestRunnerLimits(t *testing.T) {
	testutil.RequireBinary(t, "seq", "sh", "head", "tr")
	n := 0
	code, err := ExecRunner{}.Run(context.Background(), []string{"seq", "1", "5000"}, func(string) { n++ })
	if !errors.Is(err, ErrTruncated) || code != 0 || n != MaxLines {
		t.Errorf("code %d err %v lines %d, want truncation at %d", code, err, n, MaxLines)
	}

	var got []string
	script := `head -c 12288 /dev/zero | tr '\0' x; echo; echo short`
	if _, err := (ExecRunner{}).Run(context.Background(), []string{"sh", "-c", script}, func(s string) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0]) != MaxLineSize || got[1] != "short" {
		t.Errorf("long line: %d lines, first %d bytes", len(got), len(got[0]))
	}

	if _, err := (ExecRunner{}).Run(context.Background(), []string{"no-such-program-devmgr"}, func(string) {}); err == nil {
		t.Error("missing program: no error")
	}
}
