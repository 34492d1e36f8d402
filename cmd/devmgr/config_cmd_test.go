package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("data_dir: /tmp/x\n"), 0o600)
	os.WriteFile(bad, []byte("ap:\n  dhcp: {start: 192.168.5.2}\n  colour: red\n"), 0o600)

	out, _, err := runCLI(t, "", "config", "check", "--config", good)
	if err != nil || !strings.Contains(out, "ok") {
		t.Errorf("check good: out=%q err=%v", out, err)
	}

	_, stderr, err := runCLI(t, "", "config", "check", "--config", bad)
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 {
		t.Fatalf("check bad: err = %v, want exit code 1", err)
	}
	if !strings.Contains(stderr, `ap.colour: unknown key "colour" (line 3)`) {
		t.Errorf("stderr %q does not name the unknown key and line", stderr)
	}
	// Every problem in one run: the unknown key and the bad value.
	if !strings.Contains(stderr, "ap.dhcp.start: 192.168.5.2 is outside ap.address 192.168.4.1/24") {
		t.Errorf("stderr %q lacks the dhcp problem", stderr)
	}

	// A command whose program is not on this machine.
	missing := filepath.Join(dir, "missing.yaml")
	os.WriteFile(missing, []byte("data_dir: /tmp/x\ncommands:\n- id: gone\n  title: Gone\n  argv: [/usr/bin/devmgr-no-such-program]\n  roles: [admin]\n"), 0o600)
	if _, stderr, err := runCLI(t, "", "config", "check", "--config", missing); !errors.As(err, &ec) || ec != 1 ||
		!strings.Contains(stderr, "commands[0].argv[0]: /usr/bin/devmgr-no-such-program does not exist") {
		t.Errorf("check with a missing program: err %v, stderr %q", err, stderr)
	}

	t.Setenv("DEVMGR_CONFIG", good)
	if _, _, err := runCLI(t, "", "config", "check"); err != nil {
		t.Errorf("check via DEVMGR_CONFIG: %v", err)
	}
}

func TestVersion(t *testing.T) {
	out, _, err := runCLI(t, "", "version")
	if err != nil || !strings.HasPrefix(out, "devmgr ") || !strings.Contains(out, "commit") {
		t.Errorf("version: %q %v", out, err)
	}
}
