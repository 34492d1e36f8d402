// Package fielderr is the one error type for an invalid value of a
// request: which field (as its JSON path: addresses[0], gateway, host) and
// why, in a sentence. A request with several bad fields is a List, in the
// order of the form's fields, so a page can mark them all at once. The
// agent turns either into its API error (400 with field and fields).
package fielderr

import (
	"fmt"
	"strings"
)

// Error is one invalid value.
type Error struct {
	Field   string `json:"field"`
	Message string `json:"error"`
}

func (e *Error) Error() string { return e.Field + ": " + e.Message }

// New makes an *Error.
func New(field, format string, args ...any) *Error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// List is every invalid value of a request; errors.As finds the first as
// an *Error.
type List []*Error

func (l List) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap gives errors.As and errors.Is each problem.
func (l List) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Add appends a problem of field.
func (l *List) Add(field, format string, args ...any) { *l = append(*l, New(field, format, args...)) }

// Err is l as an error: nil when there is no problem.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
