package fielderr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// FromJSON says what is wrong with a request body that encoding/json could
// not decode: an *Error naming the field (as its path, addresses[0]) in a
// sentence about it, or one without a field about the whole body. A body
// over its size limit is for the caller to tell apart first.
func FromJSON(err error) *Error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te) && te.Field != "":
		field := Path(te.Field)
		return New(field, "%s must be %s.", Label(field), kindWords(te.Type))
	case errors.As(err, &te):
		return New("", "The request body must be a JSON object.")
	case errors.As(err, &se):
		return New("", "The request body is not valid JSON (at byte %d).", se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return New("", "The request body is empty or cut short: send a JSON object.")
	}
	// encoding/json has no error type for DisallowUnknownFields: its text
	// is the only place the field's name is (the one match on error text).
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return New(f, "This request has no field %q.", f)
	}
	return New("", "The request body is not valid JSON.")
}

// Path turns encoding/json's dotted field path (addresses.0) into the one
// field errors use (addresses[0]).
func Path(dotted string) string {
	var b strings.Builder
	for i, seg := range strings.Split(dotted, ".") {
		switch _, err := strconv.Atoi(seg); {
		case err == nil:
			b.WriteString("[" + seg + "]")
		case i > 0:
			b.WriteString("." + seg)
		default:
			b.WriteString(seg)
		}
	}
	return b.String()
}

// Label names a field in words: max_hops is "Max hops", addresses[1] is
// "Addresses (entry 2)".
func Label(field string) string {
	name, idx, indexed := strings.Cut(field, "[")
	name = name[strings.LastIndex(name, ".")+1:]
	words := strings.ReplaceAll(name, "_", " ")
	if words != "" {
		words = strings.ToUpper(words[:1]) + words[1:]
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(idx, "]")); indexed && err == nil {
		words += fmt.Sprintf(" (entry %d)", n+1)
	}
	return words
}

// kindWords says what a value of t is, for someone filling in a form.
func kindWords(t reflect.Type) string {
	if t == nil {
		return "something else"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return kindWords(t.Elem())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}
