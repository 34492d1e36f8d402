package backup

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/store"
)

// State is a device's restorable state: what a backup holds, or what the
// device has now.
type State struct {
	Config config.Config
	Users  []store.User
	Tokens []store.Token
	// TLS is the SHA-256 of the certificate devmgr generated, "" when the
	// backup holds none.
	TLS   string
	Agent AgentState
}

// Verify checks the contents of an archive as a restore will use them,
// with the checks the device applies to each when it is made: the config
// as devmgr config check does, the database opens and migrates to this
// devmgr's schema (in the staging directory), passes SQLite's integrity
// check and has an admin, the TLS pair loads, the agent's settings pass
// its API's validation against the config. It returns the state the
// archive holds; every error wraps one of the package's Err values.
func Verify(ctx context.Context, c *Contents, log *slog.Logger) (State, error) {
	return verify(ctx, c, log, true)
}

// verify is Verify; the device's own state (needAdmin false) may have no
// user yet: a console that never started.
func verify(ctx context.Context, c *Contents, log *slog.Logger, needAdmin bool) (State, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var st State
	cfg, err := config.Parse(c.Config)
	if err != nil {
		return st, fmt.Errorf("%w: its config fails devmgr config check:\n  %s", ErrInvalid, strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	st.Config = cfg
	if st.Users, st.Tokens, err = readAccounts(ctx, c.DBDir(), log, needAdmin); err != nil {
		return st, err
	}
	if c.TLSCert != nil {
		if _, err := tls.X509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			return st, fmt.Errorf("%w: its TLS certificate and key: %v", ErrInvalid, err)
		}
		sum := sha256.Sum256(c.TLSCert)
		st.TLS = hex.EncodeToString(sum[:])
	}
	if err := change.DecodeStrict(c.AP, &st.Agent.AP); err != nil {
		return st, fmt.Errorf("%w: %s: %v", ErrInvalid, MemberAP, err)
	}
	st.Agent.LAN = map[string]netif.LinkConfig{}
	if err := change.DecodeStrict(c.LAN, &st.Agent.LAN); err != nil {
		return st, fmt.Errorf("%w: %s: %v", ErrInvalid, MemberLAN, err)
	}
	if err := st.Agent.Validate(cfg); err != nil {
		return st, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return st, nil
}

// readAccounts opens the staged database (migrating it), checks it and
// reads its users and tokens; needAdmin refuses a database without an
// admin.
func readAccounts(ctx context.Context, dir string, log *slog.Logger, needAdmin bool) ([]store.User, []store.Token, error) {
	db, err := openChecked(ctx, dir, log)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	users, err := db.ListUsers(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: its database: %v", ErrDamaged, err)
	}
	tokens, err := db.ListTokens(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: its database: %v", ErrDamaged, err)
	}
	admin := slices.ContainsFunc(users, func(u store.User) bool { return u.Role == auth.Admin })
	if !admin && needAdmin {
		return nil, nil, fmt.Errorf("%w: its database has no admin user; nobody could manage the console", ErrInvalid)
	}
	return users, tokens, nil
}

// encodeAgent puts s into c's agent members.
func (c *Contents) encodeAgent(s AgentState) error {
	var err error
	if c.AP, err = json.MarshalIndent(s.AP, "", "  "); err != nil {
		return fmt.Errorf("encoding the access point's settings: %w", err)
	}
	lan := s.LAN
	if lan == nil {
		lan = map[string]netif.LinkConfig{}
	}
	if c.LAN, err = json.MarshalIndent(lan, "", "  "); err != nil {
		return fmt.Errorf("encoding the LAN configs: %w", err)
	}
	return nil
}

// Effective is s with the AP settings it puts in effect with cfg (the
// config it goes with) filled in: what the agent's restore change takes.
func (s AgentState) Effective(cfg config.Config) AgentState {
	eff := s.AP.Effective(cfg.AP)
	s.AP.Settings = &eff
	if s.AP.Deny == nil {
		s.AP.Deny = []string{}
	}
	return s
}
