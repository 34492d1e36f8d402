package auth

import (
	"strings"
	"testing"
	"time"
)

func TestHashVerify(t *testing.T) {
	t.Parallel()
	start := time.Now()
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("HashPassword took %v", time.Since(start))
	if !strings.HasPrefix(h, "$argon2id$v=19$m=") {
		t.Errorf("hash %q is not an argon2id PHC string", h)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: salt is not random")
	}
	tests := []struct {
		pw   string
		want bool
	}{
		{"correct horse battery", true},
		{"correct horse batterY", false},
		{"", false},
	}
	for _, tt := range tests {
		got, err := VerifyPassword(h, tt.pw)
		if err != nil || got != tt.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tt.pw, got, err, tt.want)
		}
	}
	start = time.Now()
	VerifyDummy("whatever")
	t.Logf("VerifyDummy took %v", time.Since(start))
}

// TestHashParameters: a new hash carries OWASP's second setting, and a
// hash made with other parameters (those of earlier versions: 32 MiB, 3
// passes, 2 lanes) still verifies, with its own.
func TestHashParameters(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q lacks m=19456,t=2,p=1", h)
	}
	const old = "$argon2id$v=19$m=32768,t=3,p=2$78lxl4S7au2I/+puOsYXZQ$oswieiJpSOf0Sc9UI4hVlQKO4dR5em56BEqkdfZPlYY"
	for pw, want := range map[string]bool{"correct horse battery staple": true, "correct horse battery stapl": false} {
		if got, err := VerifyPassword(old, pw); err != nil || got != want {
			t.Errorf("VerifyPassword(an earlier hash, %q) = %v, %v; want %v", pw, got, err, want)
		}
	}
}

func TestVerifyBadHash(t *testing.T) {
	t.Parallel()
	for _, enc := range []string{
		"",
		"$2a$10$abcdefghijklmnopqrstuv",
		"$argon2i$v=19$m=65536,t=3,p=2$c2FsdA$a2V5",
		"$argon2id$v=18$m=65536,t=3,p=2$c2FsdA$a2V5",
		"$argon2id$v=19$m=99999999,t=3,p=2$c2FsdA$a2V5",
		"$argon2id$v=19$m=65536,t=3,p=2$!!$a2V5",
		"$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$",
	} {
		if ok, err := VerifyPassword(enc, "pw"); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want an error", enc, ok, err)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pw      string
		wantErr string
	}{
		{"short", "at least 12 characters"},
		{"elevenchars", "at least 12 characters"},
		{"twelve chars", ""},
		{"ääääääääääää", ""}, // 12 runes, 24 bytes
		{strings.Repeat("x", 256), ""},
		{strings.Repeat("x", 257), "at most 256 bytes"},
		{"bad utf8 \xff\xfe here", "UTF-8"},
	}
	for _, tt := range tests {
		err := CheckPassword(tt.pw)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("CheckPassword(%q) = %v, want %q", tt.pw, err, tt.wantErr)
		}
	}
}

func TestGeneratePassword(t *testing.T) {
	t.Parallel()
	a, b := GeneratePassword(), GeneratePassword()
	if len(a) < 20 || a == b {
		t.Errorf("GeneratePassword gave %q and %q", a, b)
	}
	if err := CheckPassword(a); err != nil {
		t.Errorf("generated password fails the policy: %v", err)
	}
}

func TestCheckUsername(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"admin", true},
		{"a", true},
		{"0day", true},
		{"j.doe_2-x", true},
		{strings.Repeat("a", 32), true},
		{strings.Repeat("a", 33), false},
		{"", false},
		{"Admin", false},
		{".hidden", false},
		{"-x", false},
		{"_x", false},
		{"bob smith", false},
		{"bob@x", false},
		{"börk", false},
	}
	for _, tt := range tests {
		err := CheckUsername(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("CheckUsername(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "a-z") {
			t.Errorf("CheckUsername(%q) message %q does not name the rule", tt.name, err)
		}
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	plain, hash := NewToken()
	if !strings.HasPrefix(plain, "dmt_") || len(plain) != 4+43 {
		t.Errorf("token %q: want dmt_ and 43 base64url characters", plain)
	}
	if string(HashToken(plain)) != string(hash) || len(hash) != 32 {
		t.Error("HashToken does not reproduce NewToken's hash")
	}
	if p2, _ := NewToken(); p2 == plain {
		t.Error("two tokens are equal")
	}
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		HashPassword("correct horse battery")
	}
}
