package api

import (
	"errors"
	"fmt"
)

// Error is the agent's error answer: {"error", "field", "fields"} with a
// 4xx or 5xx status. It is the one error type of the API on both sides.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	Field   string `json:"field,omitempty"`
	// Fields lists every bad field of a request that has several (the
	// first is Field and Message), for a form to mark them all.
	Fields []FieldProblem `json:"fields,omitempty"`
	// RunID is the run a 409 of POST /v1/commands/{id}/runs names: the
	// caller's run of that command that is still running, to follow.
	RunID int64 `json:"run_id,omitempty"`
}

// FieldProblem is one bad field of a request.
type FieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"error"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("agent: %s: %s (%d)", e.Field, e.Message, e.Status)
	}
	return fmt.Sprintf("agent: %s (%d)", e.Message, e.Status)
}

// Errorf makes an *Error.
func Errorf(status int, field, format string, args ...any) *Error {
	return &Error{Status: status, Field: field, Message: fmt.Sprintf(format, args...)}
}

// AsError finds an *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsStatus reports whether err is an agent answer with that status.
func IsStatus(err error, status int) bool {
	e, ok := AsError(err)
	return ok && e.Status == status
}
