package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
)

// cliEnv is a config file whose data_dir is a fresh temp dir.
type cliEnv struct {
	t       *testing.T
	config  string
	dataDir string
}

// As root, the commands run as web.user (here nobody), as on a device:
// data_dir's parent is theirs, as provision leaves /var/lib/devmgr; the
// config file stays root's 0600, passed on by the root process.
func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "devmgr.yaml")
	yaml := "data_dir: " + data + "\n"
	if os.Geteuid() == 0 {
		yaml += "web: {user: nobody}\n"
		giveToNobody(t, dir)
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cliEnv{t: t, config: cfg, dataDir: data}
}

// giveToNobody makes dir nobody's, and every directory above it that
// t.TempDir made enterable.
func giveToNobody(t *testing.T, dir string) {
	t.Helper()
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *cliEnv) run(stdin string, args ...string) (string, string, error) {
	e.t.Helper()
	return runCLI(e.t, stdin, append(args, "--config", e.config)...)
}

// must runs a command that should succeed and returns its stdout.
func (e *cliEnv) must(stdin string, args ...string) string {
	e.t.Helper()
	out, stderr, err := e.run(stdin, args...)
	if err != nil {
		e.t.Fatalf("devmgr %s: %v (stderr %q)", strings.Join(args, " "), err, stderr)
	}
	return out
}

// fails runs a command that should fail with a message containing want.
func (e *cliEnv) fails(want, stdin string, args ...string) {
	e.t.Helper()
	_, _, err := e.run(stdin, args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		e.t.Errorf("devmgr %s: err = %v, want one containing %q", strings.Join(args, " "), err, want)
	}
}

// db opens the environment's database for a look; the CLI must be done.
func (e *cliEnv) db() *store.DB {
	e.t.Helper()
	db, err := store.Open(context.Background(), e.dataDir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

func (e *cliEnv) audit() []string {
	e.t.Helper()
	db := e.db()
	entries, err := db.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	db.Close()
	var got []string
	for i := len(entries) - 1; i >= 0; i-- {
		a := entries[i]
		got = append(got, strings.Join([]string{a.User, a.Source, a.Action, a.Target, a.Result}, " "))
	}
	return got
}

const goodPassword = "a long enough password"

func TestUserCLI(t *testing.T) {
	e := newCLIEnv(t)

	out := e.must(goodPassword+"\n", "user", "add", "alice", "--role", "admin", "--password-stdin")
	if !strings.Contains(out, `"alice"`) {
		t.Errorf("user add printed %q", out)
	}
	if st, err := os.Stat(e.dataDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data dir: %v, mode %v; want 0700", err, st.Mode().Perm())
	}
	e.must("viewer password\r\n", "user", "add", "bob", "--role", "viewer", "--password-stdin")

	tests := []struct {
		name, want, stdin string
		args              []string
	}{
		{"duplicate", `user "alice" already exists`, goodPassword + "\n", []string{"user", "add", "alice", "--role", "viewer", "--password-stdin"}},
		{"bad name", "a-z", goodPassword, []string{"user", "add", "Bad Name", "--role", "viewer", "--password-stdin"}},
		{"bad role", `role "root"`, goodPassword, []string{"user", "add", "carol", "--role", "root", "--password-stdin"}},
		{"no role", `"role" not set`, goodPassword, []string{"user", "add", "carol", "--password-stdin"}},
		{"no stdin flag", "--password-stdin is required", "", []string{"user", "add", "carol", "--role", "viewer"}},
		{"empty stdin", "no input", "", []string{"user", "add", "carol", "--role", "viewer", "--password-stdin"}},
		{"short password", "at least 12 characters", "short\n", []string{"user", "add", "carol", "--role", "viewer", "--password-stdin"}},
		{"passwd unknown", `user "nobody" does not exist`, goodPassword, []string{"user", "passwd", "nobody", "--password-stdin"}},
		{"passwd short", "at least 12 characters", "short", []string{"user", "passwd", "bob", "--password-stdin"}},
		{"del unknown", `user "nobody" does not exist`, "", []string{"user", "del", "nobody"}},
		{"del last admin", `cannot delete user "alice": it is the last admin`, "", []string{"user", "del", "alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { e.fails(tt.want, tt.stdin, tt.args...) })
	}

	out = e.must("", "user", "list")
	want := "NAME   ROLE    MUST-CHANGE-PASSWORD\nalice  admin   no\nbob    viewer  no\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("user list (-want +got):\n%s", diff)
	}

	// passwd sets the password (the last line of stdin ends without \n),
	// clears must-change, ends sessions and removes a stale initial password.
	db := e.db()
	bob, _ := db.UserByName(context.Background(), "bob")
	// The \r of "viewer password\r\n" was not part of the password.
	if ok, _ := auth.VerifyPassword(bob.PasswordHash, "viewer password"); !ok {
		t.Error("password read from a CRLF line does not verify")
	}
	db.SetPassword(context.Background(), bob.ID, bob.PasswordHash, true)
	db.Close()
	e.must("bob's new password", "user", "passwd", "bob", "--password-stdin")
	db = e.db()
	got, _ := db.UserByName(context.Background(), "bob")
	db.Close()
	if ok, err := auth.VerifyPassword(got.PasswordHash, "bob's new password"); !ok || err != nil {
		t.Errorf("new password does not verify: %v %v", ok, err)
	}
	if got.MustChangePassword || got.SessionEpoch != bob.SessionEpoch+2 {
		t.Errorf("after passwd: must-change %v, epoch %d (was %d)", got.MustChangePassword, got.SessionEpoch, bob.SessionEpoch)
	}
	e.must(goodPassword, "user", "add", "admin", "--role", "admin", "--password-stdin")
	initial := filepath.Join(e.dataDir, "initial-admin-password")
	os.WriteFile(initial, []byte("old\n"), 0o600)
	e.must(goodPassword+"!\n", "user", "passwd", "admin", "--password-stdin")
	if _, err := os.Stat(initial); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("initial password file still there after passwd admin: %v", err)
	}

	// With a second admin, alice may go; then admin is the last.
	e.must("", "user", "del", "alice")
	e.fails("last admin", "", "user", "del", "admin")
	e.must("", "user", "del", "bob")
	out = e.must("", "user", "list")
	if diff := cmp.Diff("NAME   ROLE   MUST-CHANGE-PASSWORD\nadmin  admin  no\n", out); diff != "" {
		t.Errorf("user list (-want +got):\n%s", diff)
	}

	wantAudit := []string{
		"cli local user.add alice ok",
		"cli local user.add bob ok",
		"cli local user.add alice failed",
		"cli local user.delete alice failed",
		"cli local user.passwd bob ok",
		"cli local user.add admin ok",
		"cli local user.passwd admin ok",
		"cli local user.delete alice ok",
		"cli local user.delete admin failed",
		"cli local user.delete bob ok",
	}
	if diff := cmp.Diff(wantAudit, e.audit()); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestTokenCLI(t *testing.T) {
	e := newCLIEnv(t)
	out, stderr, err := e.run("", "token", "create", "--name", "ci", "--role", "operator")
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	plain := strings.TrimSpace(out)
	if !strings.HasPrefix(plain, "dmt_") || strings.Contains(plain, "\n") || !strings.Contains(stderr, "only this once") {
		t.Errorf("token create printed %q, stderr %q", out, stderr)
	}

	db := e.db()
	tok, err := db.TokenByHash(context.Background(), auth.HashToken(plain))
	if err != nil || tok.Name != "ci" || tok.Role != auth.Operator {
		t.Errorf("created token = %+v, %v", tok, err)
	}
	db.TouchToken(context.Background(), tok.ID, tok.CreatedAt)
	db.Close()

	e.fails(`token "ci" already exists`, "", "token", "create", "--name", "ci", "--role", "viewer")
	e.fails(`role "god"`, "", "token", "create", "--name", "x", "--role", "god")
	e.fails("token name must be", "", "token", "create", "--name", "Bad!", "--role", "viewer")
	e.fails(`"name" not set`, "", "token", "create", "--role", "viewer")
	e.must("", "token", "create", "--name", "backup", "--role", "viewer", "--expires", "90d")
	for _, bad := range []struct{ value, want string }{
		{"x", `--expires: "x" is not a duration`},
		{"30s", `--expires: "30s" is less than`},
		{"-5m", `--expires: "-5m" is less than`},
		{"3651d", `--expires: "3651d" is more than`},
		{"1000000h", `--expires: "1000000h" is more than`},
	} {
		e.fails(bad.want, "", "token", "create", "--name", "bad", "--role", "viewer", "--expires", bad.value)
	}

	out = e.must("", "token", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	cols := func(i int) []string {
		if i >= len(lines) {
			return nil
		}
		return strings.Fields(lines[i])
	}
	// Times are "date time": NAME ROLE CREATED(2) EXPIRES(2 or never) LAST-USED(2 or never) REVOKED.
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") ||
		!strings.Contains(lines[0], "EXPIRES") || !strings.Contains(lines[0], "LAST-USED") {
		t.Fatalf("token list:\n%s", out)
	}
	backup, ci := cols(1), cols(2)
	if len(backup) != 8 || backup[0] != "backup" || backup[6] != "never" || backup[7] != "no" {
		t.Errorf("token list: backup (expires in 90 days, never used):\n%s", out)
	} else if exp, err := time.ParseInLocation(time.DateTime, backup[4]+" "+backup[5], time.Local); err != nil ||
		time.Until(exp) < 90*24*time.Hour-time.Minute || time.Until(exp) > 90*24*time.Hour {
		t.Errorf("token list: backup expires %v (%v), want in 90 days", exp, err)
	}
	if len(ci) != 8 || ci[0] != "ci" || ci[4] != "never" || ci[5] == "never" || ci[7] != "no" {
		t.Errorf("token list: ci (never expires, used):\n%s", out)
	}

	e.must("", "token", "revoke", "ci")
	e.fails(`token "ci" does not exist or is already revoked`, "", "token", "revoke", "ci")
	db = e.db()
	if _, err := db.TokenByHash(context.Background(), auth.HashToken(plain)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked token still found: %v", err)
	}
	db.Close()
	out = e.must("", "token", "list")
	if !strings.Contains(out, "yes") {
		t.Errorf("token list does not show the revocation:\n%s", out)
	}

	wantAudit := []string{
		"cli local token.create ci ok",
		"cli local token.create ci failed",
		"cli local token.create backup ok",
		"cli local token.revoke ci ok",
		"cli local token.revoke ci failed",
	}
	if diff := cmp.Diff(wantAudit, e.audit()); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}
