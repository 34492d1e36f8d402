package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
)

// TestSessionTokensStoredHashed: the sessions table holds the SHA-256 of
// the cookie's token, never the token, so a copied database row is no
// cookie.
func TestSessionTokensStoredHashed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	c := h.newClient()
	c.mustLogin("vera", userPassword)
	ck := c.sessionCookie()
	if ck == nil {
		t.Fatal("no session cookie after login")
	}
	sum := sha256.Sum256([]byte(ck.Value))

	// The key is the first column, whatever it is called.
	rows, err := h.db.SQL().Query(`SELECT * FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	var keys [][]byte
	for rows.Next() {
		dest := make([]any, len(cols))
		var key []byte
		dest[0] = &key
		for i := 1; i < len(cols); i++ {
			dest[i] = new(any)
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	rows.Close()
	var hashed bool
	for _, k := range keys {
		if string(k) == ck.Value {
			t.Errorf("sessions table holds the cookie's token %q", ck.Value)
		}
		if string(k) == string(sum[:]) || string(k) == hex.EncodeToString(sum[:]) {
			hashed = true
		}
	}
	if !hashed {
		t.Errorf("no session row keyed by the SHA-256 of the cookie (%d rows)", len(keys))
	}

	// A stolen row, in any encoding, is not a session cookie.
	for _, k := range keys {
		vals := []string{hex.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k)}
		if printable(k) {
			vals = append(vals, string(k))
		}
		for _, v := range vals {
			r := h.newClient().request(http.MethodGet, "/api/v1/me", nil, map[string]string{"Cookie": SessionCookie + "=" + v})
			if r.status != http.StatusUnauthorized {
				t.Errorf("GET /api/v1/me with a stolen row's key as cookie = %d, want 401", r.status)
			}
		}
	}
	if r := c.get("/api/v1/me"); r.status != http.StatusOK {
		t.Errorf("GET /api/v1/me with the real cookie = %d, want 200", r.status)
	}
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x21 || c > 0x7e || c == ';' {
			return false
		}
	}
	return true
}

// TestExpiredTokenRefused: an API token past its expiry authenticates as
// nothing, like a revoked one.
func TestExpiredTokenRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const plain = "dmt_expiring0123456789abcdef0123456789"
	h.addTokenTTL("ci", auth.Viewer, plain, time.Hour)
	bearer := map[string]string{"Authorization": "Bearer " + plain}
	c := h.newClient()
	if r := c.request(http.MethodGet, "/api/v1/me", nil, bearer); r.status != http.StatusOK {
		t.Fatalf("me with an unexpired token = %d %s", r.status, r.body)
	}
	// The store reads the real clock here: move the expiry into the past.
	if _, err := h.db.SQL().Exec(`UPDATE api_tokens SET expires_at = ? WHERE name = 'ci'`, time.Now().Add(-time.Second).UnixNano()); err != nil {
		t.Fatal(err)
	}
	r := c.request(http.MethodGet, "/api/v1/me", nil, bearer)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("me with an expired token = %d, want 401", r.status)
	}
	if e := decode[apiError](t, r); !strings.Contains(e.Error, "expired") {
		t.Errorf("401 error %q does not mention expiry", e.Error)
	}
}

var oneTimeRE = regexp.MustCompile(`New one-time password for (\w+): (?:<code[^>]*>)?([^\s<]+)`)

// resetPassword has admin reset the password of user id and returns the
// page that shows the one-time password, and the password.
func resetPassword(t *testing.T, admin *client, id int64, name string) (response, string) {
	t.Helper()
	admin.get("/users")
	r := admin.post("/users/"+strconv.FormatInt(id, 10)+"/reset", nil)
	if r.status == http.StatusSeeOther {
		r = admin.get(r.location())
	}
	if r.status != http.StatusOK {
		t.Fatalf("reset of %s = %d\n%s", name, r.status, r.body)
	}
	m := oneTimeRE.FindStringSubmatch(r.body)
	if m == nil || m[1] != name {
		t.Fatalf("reset password of %s not shown:\n%s", name, r.body)
	}
	return r, m[2]
}

// TestResetPasswordNotKept: the one-time password of an admin's reset is
// shown once and kept nowhere: not in the session (decoded), not in the
// database or its WAL, not on the page reloaded.
func TestResetPasswordNotKept(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	vera := h.addUser("vera", auth.Viewer, userPassword)
	h.addUser("alice", auth.Admin, userPassword)
	admin := h.newClient()
	admin.mustLogin("alice", userPassword)

	// POST, redirect, GET: a reload shows the list again, never resubmits.
	admin.get("/users")
	r := admin.post("/users/"+strconv.FormatInt(vera.ID, 10)+"/reset", nil)
	if r.status != http.StatusSeeOther || r.location() != "/users" {
		t.Fatalf("reset = %d %q, want 303 /users", r.status, r.location())
	}
	page := admin.get("/users")
	m := oneTimeRE.FindStringSubmatch(page.body)
	if m == nil || m[1] != "vera" {
		t.Fatalf("the page after the reset does not show vera's one-time password:\n%s", page.body)
	}
	pw := m[2]

	rows, err := h.db.SQL().Query(`SELECT data FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		n++
		_, vals, err := h.srv.sessions.Codec.Decode(b) // the console's codec (sessionCodec)
		if err != nil {
			t.Fatalf("decoding session data: %v", err)
		}
		for k, v := range vals {
			if strings.Contains(fmt.Sprint(v), pw) {
				t.Errorf("session value %q holds the one-time password", k)
			}
		}
		if bytes.Contains(b, []byte(pw)) {
			t.Error("session data holds the one-time password")
		}
	}
	rows.Close()
	if n == 0 {
		t.Fatal("no session rows")
	}
	// Not even in a page the session row once had: the database file and
	// its WAL never saw it.
	for _, f := range []string{store.FileName, store.FileName + "-wal"} {
		b, err := os.ReadFile(filepath.Join(h.cfg.DataDir, f))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(pw)) {
			t.Errorf("%s holds the one-time password", f)
		}
	}

	if r := admin.get("/users"); r.status != http.StatusOK || strings.Contains(r.body, pw) || strings.Contains(r.body, "one-time password for") {
		t.Errorf("reloaded users page = %d and shows the one-time password again:\n%s", r.status, r.body)
	}
	// The password works, once, and must be changed.
	if r := h.newClient().login("vera", pw); r.status != http.StatusSeeOther || r.location() != "/account/password" {
		t.Errorf("login with the one-time password = %d %q, want 303 /account/password", r.status, r.location())
	}
}
