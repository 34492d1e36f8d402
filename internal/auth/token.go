package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// TokenPrefix starts every API token, so that a leaked one is easy to
// recognise in logs and by secret scanners.
const TokenPrefix = "dmt_"

// NewToken makes a random API token and its hash. Only the hash is
// stored; the plain token is shown once.
func NewToken() (plain string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b) // never returns an error; it crashes the program instead
	plain = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return plain, HashToken(plain)
}

// HashToken is the stored form of an API token. A token carries 256
// random bits, so a fast hash suffices: there is nothing to brute-force.
func HashToken(plain string) []byte {
	h := sha256.Sum256([]byte(plain))
	return h[:]
}
