package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/store"
)

// Bounds of a token's lifetime.
const (
	MinTokenTTL = time.Minute
	MaxTokenTTL = 3650 * 24 * time.Hour // 10 years
)

// ParseTokenTTL reads a token's lifetime: "" for never, else days ("90d")
// or a Go duration between MinTokenTTL and MaxTokenTTL.
func ParseTokenTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	a, err := config.ParseAge(s)
	if err != nil {
		return 0, err
	}
	switch d := time.Duration(a); {
	case d < MinTokenTTL:
		return 0, fmt.Errorf("%q is less than the shortest lifetime, 1m", s)
	case d > MaxTokenTTL:
		return 0, fmt.Errorf("%q is more than the longest lifetime, 3650d (10 years)", s)
	default:
		return d, nil
	}
}

// NewToken is an API token to create.
type NewToken struct {
	Name, Role string
	TTL        time.Duration // 0: never expires
}

// CheckNewToken returns an *Invalid with every bad field of t (name,
// role), or nil. It reads nothing.
func CheckNewToken(t NewToken) error {
	var ps problems
	ps.add("name", auth.CheckTokenName(t.Name))
	_, err := auth.ParseRole(t.Role)
	ps.add("role", err)
	return ps.err()
}

// CreateToken checks and creates t and returns the token in plain, to be
// shown once: only its hash is kept.
func (s *Service) CreateToken(ctx context.Context, a Actor, t NewToken) (string, store.Token, error) {
	if err := CheckNewToken(t); err != nil {
		return "", store.Token{}, err
	}
	role, _ := auth.ParseRole(t.Role)
	plain, h := auth.NewToken()
	tok, err := s.db.CreateToken(ctx, t.Name, role, h, t.TTL)
	s.Audit(ctx, a, ActTokenCreate, t.Name, err, "")
	if errors.Is(err, store.ErrExists) {
		return "", tok, errorf(ErrExists, "token %q already exists (revoke it first)", t.Name)
	}
	if err != nil {
		return "", tok, err
	}
	return plain, tok, nil
}

// Tokens lists every token, revoked and expired ones too.
func (s *Service) Tokens(ctx context.Context) ([]store.Token, error) { return s.db.ListTokens(ctx) }

// RevokeToken revokes the token called name.
func (s *Service) RevokeToken(ctx context.Context, a Actor, name string) error {
	err := s.db.RevokeToken(ctx, name)
	s.Audit(ctx, a, ActTokenRevoke, name, err, "")
	if errors.Is(err, store.ErrNotFound) {
		return errorf(ErrNotFound, "token %q does not exist or is already revoked", name)
	}
	return err
}
