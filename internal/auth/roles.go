// Package auth holds devmgr's security primitives: roles and what each may
// do, password hashing (argon2id), API tokens and the login throttle.
package auth

import "fmt"

// Role is what a user or token may do. Roles are ordered: an admin can do
// all an operator can, an operator all a viewer can.
type Role string

// The three roles.
const (
	Viewer   Role = "viewer"   // reads everything but secrets
	Operator Role = "operator" // also runs diagnostics and operator commands
	Admin    Role = "admin"    // does everything: users, tokens, network, AP, reset
)

// Roles lists every role, least privileged first.
var Roles = []Role{Viewer, Operator, Admin}

func (r Role) rank() int {
	switch r {
	case Viewer:
		return 1
	case Operator:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// AtLeast reports whether r includes everything min may do. An invalid
// role includes nothing.
func (r Role) AtLeast(min Role) bool { return r.rank() > 0 && r.rank() >= min.rank() }

// ParseRole parses admin, operator or viewer.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("role %q is not one of admin, operator, viewer", s)
	}
	return r, nil
}
