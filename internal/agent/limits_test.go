package agent

import (
	"context"
	"errors"
	"github.com/devmgr/devmgr/internal/agent/api"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func TestDiagnosticsLimit(t *testing.T) {
	fd := &fakeDiag{t: t, block: make(chan struct{})}
	ta := startAgent(t, func(c *Config) { c.Diag = fd; c.MaxDiagnostics = 1 })
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var once bool
		_, err := ta.client.Ping(context.Background(), operator, diagPing("127.0.0.1", 2), func(string) {
			if !once {
				once = true
				close(started)
			}
		})
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("the first diagnostic ended before its first line: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the first diagnostic sent no line in 10 s")
	}
	if _, err := ta.client.Ping(context.Background(), operator, api.PingRequest{Host: "127.0.0.1"}, nil); !IsStatus(err, http.StatusTooManyRequests) {
		t.Errorf("second diagnostic: %v, want 429", err)
	}
	if _, err := ta.client.DNS(context.Background(), operator, api.DNSRequest{Name: "example.com"}); !IsStatus(err, http.StatusTooManyRequests) {
		t.Errorf("DNS while busy: %v, want 429", err)
	}
	close(fd.block)
	if err := <-done; err != nil {
		t.Errorf("first diagnostic: %v", err)
	}
	// The slot is released when the first handler returns, which may be
	// just after its client read the stream's last event.
	var err error
	testutil.Eventually(t, 5*time.Second, func() bool {
		_, err = ta.client.DNS(context.Background(), operator, api.DNSRequest{Name: "example.com"})
		return !IsStatus(err, http.StatusTooManyRequests)
	}, "the diagnostics slot freed")
	if err != nil {
		t.Errorf("DNS afterwards: %v", err)
	}
}

// TestStreamCancel: a client that goes away stops the program.
func TestStreamCancel(t *testing.T) {
	testutil.RequireBinary(t, "ping")
	ta := startAgent(t, func(c *Config) { c.Diag = Tools{} })
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	_, err := ta.client.Ping(ctx, operator, diagPing("127.0.0.1", 10), func(s string) {
		if strings.Contains(s, "bytes from") {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ping: %v", err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { _, ok := ta.audit.find(actPing, "failed"); return ok }, "a failed ping in the audit")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ping ran on for %v after the client left", d)
	}
}
