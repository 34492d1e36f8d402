package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
)

// TestSessionTokensStoredHashed: the sessions table holds the SHA-256 of
// the cookie's token, never the token, so a copied database row is no
// cookie.
func TestSessionTokensStoredHashed(t *testing.T) {
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
