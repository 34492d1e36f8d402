package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// resetEnv is a device whose config names a mount-mode reset of layers
// in its temporary directory (never mounted here: every command below
// is refused before).
func resetEnv(t *testing.T) *backupEnv {
	t.Helper()
	e := newBackupEnv(t)
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	d := e.dir
	b = append(b, []byte("reset: {mode: mount, lower: "+d+"/lower, upper: "+d+"/layers/upper, work: "+d+"/layers/work, merged: "+d+"/merged}\n")...)
	if err := os.WriteFile(e.config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestResetCLIRefusesFlags(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	e.fails("this device has no reset: reset.mode is none", "", "reset", "--yes", "--confirm", "x")
	e.fails("--yes and --confirm HOSTNAME go together", "", "reset", "--yes")
	e.fails("--yes and --confirm HOSTNAME go together", "", "reset", "--confirm", "x")
	e.fails("--resume finishes the interrupted reset as it was asked for", "", "reset", "--resume", "--keep-settings")
	if out := e.must("", "reset", "--resume"); !strings.Contains(out, "no reset to finish: reset.mode is none") {
		t.Errorf("--resume without a reset: %q", out)
	}
}

// As root: a running agent and a wrong host name are refused with what
// to do, and nothing is touched (the reset's directory is not even made).
func TestResetCLIRefusals(t *testing.T) {
	testutil.RequireRoot(t)
	e := resetEnv(t)
	ln, err := net.Listen("unix", filepath.Join(e.dir, "agent.sock"))
	if err != nil {
		t.Fatal(err)
	}
	e.fails("the agent is running ("+filepath.Join(e.dir, "agent.sock")+" answers): while it runs, the reset goes through it, from the console's System page",
		"", "reset", "--yes", "--confirm", "anything")
	ln.Close()
	host, _ := os.Hostname()
	out, _, err := e.run("", "reset", "--yes", "--confirm", "not-"+host)
	if err == nil || !strings.Contains(err.Error(), `the confirmation is not this device's host name: "not-`+host+`" was typed; type `+host) {
		t.Errorf("wrong host name: %v", err)
	}
	if !strings.Contains(out, "without --keep-settings, these go too:") && !strings.Contains(out, "kept across the reset:") {
		t.Errorf("what the reset would do is not said:\n%s", out)
	}
	if _, err := os.Lstat(filepath.Join(e.stateDir, "reset")); !os.IsNotExist(err) {
		t.Errorf("the reset's directory was made: %v", err)
	}
}
