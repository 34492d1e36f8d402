// Package agentproc runs the real `devmgr agent` for a test, as a device
// and `make run` run it: the devmgr binary, as root, inside a lab's
// network namespace (ip netns exec), on a config file written for it,
// supervised by internal/service's Supervisor (modelled on tailscale's
// tstest/integration).
//
// The binary is $DEVMGR_BIN (`make test` sets it to bin/devmgr), or
// ./cmd/devmgr built once per test process (with -race when the tests
// run with it). A package whose tests start agents runs them through
// RunTests from TestMain, so that a built binary does not outlive them.
package agentproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/service"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// How long an agent has to answer on its socket, and to stop after SIGTERM
// (then it is killed); how many of its last lines of output are kept.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	outputLines  = 1000
)

// Options say how to run the agent.
type Options struct {
	// Config is written to the file given as --config. The agent answers
	// on its agent.socket.
	Config config.Config
	// NS is the network namespace the agent runs in (its name under
	// /run/netns, as lab.Lab.NS gives it). Required.
	NS string
	// The AP daemons' files, the hidden flags --leases, --hostapd-ctrl,
	// --dns-servers, --dnsmasq-pid, --hostapd-conf and --hostapd-deny. ""
	// is a file in a directory of the test's, never the device's default,
	// so that no file of the host's daemons is read or written and the
	// host's dnsmasq is never signalled.
	Leases, HostapdCtrl, DNSServers, DnsmasqPID, HostapdConf, HostapdDeny string
}

// Agent is a `devmgr agent` that a test started. It is stopped (SIGTERM,
// then wait) when the test ends, and its output is logged if the test
// failed.
type Agent struct {
	// Socket is its agent.socket.
	Socket string

	t     testing.TB
	sup   *service.Supervisor
	done  <-chan struct{}
	ended bool // stopped, killed, or awaited by Exit
}

// name is the agent's name in its Supervisor.
const name = "agent"

// Start runs the agent and returns once it answers on its socket; an
// agent that exits first, or does not answer in time, fails the test
// with its output.
func Start(t testing.TB, o Options) *Agent {
	t.Helper()
	a := launch(t, o)
	if !a.wait() {
		t.Fatalf("devmgr agent exited at start (%v):\n%s", a.exitErr(), a.Output())
	}
	return a
}

// Exit runs the agent until it exits by itself, as one that refuses to
// start does, and returns its output and how it ended (nil: exit status
// 0). An agent that answers on its socket instead has started: that fails
// the test, and it is stopped.
func Exit(t testing.TB, o Options) (output string, err error) {
	t.Helper()
	a := launch(t, o)
	if a.wait() {
		t.Errorf("devmgr agent started: it answers on %s", a.Socket)
		return a.Output(), a.Stop()
	}
	return a.Output(), a.exitErr()
}

// wait waits until the agent answers on its socket (true) or its process
// has ended (false); neither within the start timeout fails the test.
func (a *Agent) wait() (answers bool) {
	a.t.Helper()
	c := agentclient.New(a.Socket)
	defer c.Close()
	var err error
	testutil.Eventually(a.t, startTimeout, func() bool {
		if a.exited() {
			return true
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = c.Health(ctx)
		answers = err == nil
		return answers
	}, func() string {
		return fmt.Sprintf("devmgr agent neither answered on %s (%v) nor exited:\n%s", a.Socket, err, a.Output())
	})
	return answers
}

// launch writes the config and starts the agent in o.NS.
func launch(t testing.TB, o Options) *Agent {
	t.Helper()
	testutil.RequireRoot(t)
	ip := testutil.RequireBinary(t, "ip")
	if o.NS == "" {
		t.Fatal("agentproc: Options.NS is required")
	}
	bin := Binary(t)
	dir := t.TempDir()
	for f, base := range map[*string]string{&o.Leases: "ap.leases", &o.HostapdCtrl: "hostapd", &o.DNSServers: "dns-servers", &o.DnsmasqPID: "dnsmasq.pid",
		&o.HostapdConf: "hostapd.conf", &o.HostapdDeny: "hostapd.deny"} {
		if *f == "" {
			*f = filepath.Join(dir, base)
		}
	}
	cfgFile := filepath.Join(dir, "devmgr.yaml")
	if err := config.Write(cfgFile, o.Config, "# agentproc: written for "+t.Name()+"\n"); err != nil {
		t.Fatal(err)
	}
	a := &Agent{Socket: o.Config.Agent.Socket, t: t}
	sup, err := service.NewSupervisor(service.SupervisorConfig{
		Log: slog.New(slog.DiscardHandler), Lines: outputLines, StopTimeout: stopTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	sp := service.Spec{Name: name, Once: true, Argv: []string{ip, "netns", "exec", o.NS, bin, "agent",
		"--config", cfgFile, "--leases", o.Leases, "--hostapd-ctrl", o.HostapdCtrl,
		"--dns-servers", o.DNSServers, "--dnsmasq-pid", o.DnsmasqPID, "--hostapd-conf", o.HostapdConf, "--hostapd-deny", o.HostapdDeny}}
	if err := sup.Add(sp); err != nil {
		t.Fatal(err)
	}
	if err := sup.Start(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	a.sup = sup
	t.Cleanup(func() {
		if !a.ended {
			if err := a.Stop(); err != nil {
				t.Errorf("stopping devmgr agent: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("devmgr agent output:\n%s", a.Output())
		}
	})
	if a.done, err = sup.Exited(name); err != nil {
		t.Fatal(err)
	}
	if a.done == nil { // it has ended already
		ch := make(chan struct{})
		close(ch)
		a.done = ch
	}
	return a
}

// Stop stops the agent: SIGTERM, then SIGKILL if it has not ended within
// the stop timeout. It returns how the agent ended: nil for exit status 0.
func (a *Agent) Stop() error {
	a.t.Helper()
	a.ended = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*stopTimeout)
	defer cancel()
	if err := a.sup.Stop(ctx, name); err != nil {
		return err
	}
	return a.exitErr()
}

// Kill ends the agent with SIGKILL, as a crash would, and waits for it.
func (a *Agent) Kill() {
	a.t.Helper()
	a.ended = true
	st, err := a.sup.Status(context.Background(), name)
	if err != nil {
		a.t.Fatal(err)
	}
	if st.PID == 0 {
		a.t.Fatalf("devmgr agent is not running (%s):\n%s", st.LastExit, a.Output())
	}
	// The agent leads its own process group (ip netns exec became it).
	if err := syscall.Kill(-st.PID, syscall.SIGKILL); err != nil {
		a.t.Fatalf("killing devmgr agent: %v", err)
	}
	<-a.done
}

// exited reports whether the agent's process has ended by itself.
func (a *Agent) exited() bool {
	select {
	case <-a.done:
		a.ended = true
		return true
	default:
		return false
	}
}

// Output is the agent's latest lines of stdout and stderr.
func (a *Agent) Output() string {
	st, err := a.sup.Status(context.Background(), name)
	if err != nil {
		return err.Error()
	}
	return strings.Join(st.Output, "\n")
}

// exitErr is how the agent's process ended: nil for exit status 0.
func (a *Agent) exitErr() error {
	st, err := a.sup.Status(context.Background(), name)
	if err != nil {
		return err
	}
	if st.LastExit == "exit status 0" {
		return nil
	}
	return errors.New(st.LastExit)
}
