package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters for new hashes: OWASP's second recommended setting
// (19 MiB, 2 passes, 1 lane), which holds a login's memory to 19 MiB
// where 32 MiB, 3 passes, 2 lanes made a burst of logins the console's
// largest use of memory. Verifying uses the parameters stored in the
// hash, so hashes made with others (those of before) still verify, and
// these can change again without invalidating passwords.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32

	// maxArgonMemory bounds what a stored hash may ask for (KiB), so a
	// corrupt row cannot make a login allocate gigabytes.
	maxArgonMemory = 256 * 1024
)

// Password policy.
const (
	MinPasswordRunes = 12
	MaxPasswordBytes = 256
)

// hashSlots bounds how many argon2 computations run at once: each takes
// argonMemory, and a burst of logins must not exhaust the box's memory.
var hashSlots = make(chan struct{}, max(2, runtime.NumCPU()))

func argonKey(pw, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	hashSlots <- struct{}{}
	key := argon2.IDKey(pw, salt, t, m, p, n)
	<-hashSlots
	// The m KiB argon2 allocated are garbage now, but the runtime would keep
	// them until its next GC and scavenge: minutes for an idle console, which
	// would sit at 3x its idle memory after every login. Give them back now,
	// unless another hash is running (a burst of logins reuses the memory).
	// A forced GC of the console's small heap costs ~1 ms beside the hash's 50+.
	if len(hashSlots) == 0 {
		debug.FreeOSMemory()
	}
	return key
}

// HashPassword returns pw's argon2id hash as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$salt$hash.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading random salt: %w", err)
	}
	key := argonKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

type phc struct {
	m, t      uint32
	p         uint8
	salt, key []byte
}

func parsePHC(encoded string) (phc, error) {
	var h phc
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, errors.New("password hash is not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return h, fmt.Errorf("password hash has unsupported argon2 version %q", parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.m, &h.t, &h.p); err != nil {
		return h, fmt.Errorf("parsing argon2 parameters %q: %w", parts[3], err)
	}
	if h.m == 0 || h.m > maxArgonMemory || h.t == 0 || h.t > 100 || h.p == 0 {
		return h, fmt.Errorf("argon2 parameters %q are out of range", parts[3])
	}
	var err error
	b64 := base64.RawStdEncoding
	if h.salt, err = b64.DecodeString(parts[4]); err != nil {
		return h, fmt.Errorf("decoding password hash salt: %w", err)
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) == 0 {
		return h, fmt.Errorf("decoding password hash: %w", err)
	}
	return h, nil
}

// VerifyPassword reports whether pw matches the hash encoded. An error
// means the hash itself is unusable.
func VerifyPassword(encoded, pw string) (bool, error) {
	h, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	key := argonKey([]byte(pw), h.salt, h.t, h.m, h.p, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// dummyHash has the current parameters and a salt and key that nothing
// hashes to; it costs no start-up time, unlike hashing a dummy password.
var dummyHash = fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
	base64.RawStdEncoding.EncodeToString(make([]byte, argonSaltLen)), base64.RawStdEncoding.EncodeToString(make([]byte, argonKeyLen)))

// VerifyDummy does the work of verifying a password against a hash with
// the current parameters and throws the result away. Call it for an
// unknown user, so that a login for one takes as long as for a known user.
func VerifyDummy(pw string) {
	_, _ = VerifyPassword(dummyHash, pw)
}

// CheckPassword enforces the password policy. Its message is meant to be
// shown beside the password field.
func CheckPassword(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return errors.New("password is not valid UTF-8 text")
	case utf8.RuneCountInString(pw) < MinPasswordRunes:
		return fmt.Errorf("password must be at least %d characters long", MinPasswordRunes)
	case len(pw) > MaxPasswordBytes:
		return fmt.Errorf("password must be at most %d bytes long", MaxPasswordBytes)
	}
	return nil
}

// GeneratePassword returns a random password of 26 characters
// (A-Z and 2-7, 130 bits), for the first admin.
func GeneratePassword() string { return rand.Text() }
