package auth

import "errors"

// MaxUsernameLen is the longest username allowed.
const MaxUsernameLen = 32

var errUsername = errors.New("username must be 1 to 32 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")

// CheckUsername enforces the username rule. Names are lowercase, so two
// users cannot differ only in case. Its message names the rule.
func CheckUsername(s string) error {
	if len(s) == 0 || len(s) > MaxUsernameLen {
		return errUsername
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return errUsername
		}
	}
	return nil
}

var errTokenName = errors.New("token name must be 1 to 32 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")

// CheckTokenName enforces the same rule as CheckUsername for API token names.
func CheckTokenName(s string) error {
	if CheckUsername(s) != nil {
		return errTokenName
	}
	return nil
}
