package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a config, at a YAML path such as
// "ap.dhcp.start" or "uplinks[1]".
type Problem struct {
	Path    string
	Line    int // 0 when unknown
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", p.Line)
	}
	return b.String()
}

// Problems is every problem found in a config; it is the error type of
// Parse, Decode and Validate.
type Problems struct {
	List []Problem
}

func (ps *Problems) add(path, format string, args ...any) {
	ps.List = append(ps.List, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// has reports whether a problem at path (or below it) is already listed, so
// a mistyped value is not reported twice.
func (ps *Problems) has(path string) bool {
	for _, p := range ps.List {
		if p.Path != "" && (p.Path == path || strings.HasPrefix(path, p.Path+".")) {
			return true
		}
	}
	return false
}

func (ps *Problems) Error() string {
	lines := make([]string, len(ps.List))
	for i, p := range ps.List {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Channel is a WiFi channel number; 0 means "auto" (automatic selection).
type Channel int

// UnmarshalYAML accepts a channel number or the word auto.
func (c *Channel) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "auto" {
		*c = 0
		return nil
	}
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: channel %q is neither a number nor auto", n.Line, n.Value)
	}
	*c = Channel(v)
	return nil
}

// MarshalYAML writes auto for 0.
func (c Channel) MarshalYAML() (any, error) {
	if c == 0 {
		return "auto", nil
	}
	return int(c), nil
}

func (c Channel) String() string {
	if c == 0 {
		return "auto"
	}
	return strconv.Itoa(int(c))
}

// Age is a duration that may also be written in whole days ("90d").
type Age time.Duration

// ParseAge reads "90d" or anything time.ParseDuration reads.
func ParseAge(s string) (Age, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 100_000 {
			return 0, fmt.Errorf("%q is not a number of days such as 90d", s)
		}
		return Age(time.Duration(n) * 24 * time.Hour), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 90d or 720h", s)
	}
	return Age(v), nil
}

// UnmarshalYAML accepts "90d" as well as Go durations.
func (a *Age) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: must be a duration such as 90d", n.Line)
	}
	v, err := ParseAge(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*a = v
	return nil
}

// MarshalYAML writes whole days as "Nd".
func (a Age) MarshalYAML() (any, error) { return a.String(), nil }

func (a Age) String() string {
	d := time.Duration(a)
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

var (
	typeOfAge      = reflect.TypeOf(Age(0))
	typeOfConfig   = reflect.TypeOf(Config{})
	typeOfDuration = reflect.TypeOf(time.Duration(0))
	typeOfChannel  = reflect.TypeOf(Channel(0))
	typeOfSize     = reflect.TypeOf(Size(0))
	typeOfParams   = reflect.TypeOf(Params(nil))
	typeOfParam    = reflect.TypeOf(Param{})
)

// scalarParsers check the values of the types that have a parser of their
// own, whose error names the value.
var scalarParsers = map[reflect.Type]func(string) error{
	typeOfAge:  func(s string) error { _, err := ParseAge(s); return err },
	typeOfSize: func(s string) error { _, err := ParseSize(s); return err },
}

// checkKeys walks the document beside the Go type it decodes into and
// reports every key the type does not have, with its full path and line.
func checkKeys(n *yaml.Node, t reflect.Type, path string, probs *Problems) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == typeOfParams {
		checkParamKeys(n, path, probs)
		return
	}
	if parse := scalarParsers[t]; parse != nil {
		if n.Kind != yaml.ScalarNode {
			probs.List = append(probs.List, Problem{Path: pathOr(path), Line: n.Line, Message: "must be a single value"})
		} else if err := parse(n.Value); err != nil {
			probs.List = append(probs.List, Problem{Path: path, Line: n.Line, Message: err.Error()})
		}
		return
	}
	if t == typeOfChannel {
		if n.Kind != yaml.ScalarNode || (n.Value != "auto" && !isInt(n.Value)) {
			probs.List = append(probs.List, Problem{Path: path, Line: n.Line, Message: fmt.Sprintf("%q is neither a channel number nor auto", n.Value)})
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return
			}
			probs.List = append(probs.List, Problem{Path: pathOr(path), Line: n.Line, Message: "must be a mapping of keys"})
			return
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "-" {
				fields[name] = f.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := join(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				probs.List = append(probs.List, Problem{Path: sub, Line: k.Line, Message: fmt.Sprintf("unknown key %q", k.Value)})
				continue
			}
			checkKeys(v, ft, sub, probs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Tag == "!!null" {
				return
			}
			probs.List = append(probs.List, Problem{Path: pathOr(path), Line: n.Line, Message: "must be a list"})
			return
		}
		for i, c := range n.Content {
			checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), probs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			probs.List = append(probs.List, Problem{Path: pathOr(path), Line: n.Line, Message: "must be a single value"})
			return
		}
		switch {
		case t == typeOfDuration:
			if _, err := time.ParseDuration(n.Value); err != nil {
				probs.List = append(probs.List, Problem{Path: path, Line: n.Line, Message: fmt.Sprintf("%q is not a duration such as 30s, 15m or 24h", n.Value)})
			}
		case t.Kind() == reflect.Bool:
			var b bool
			if err := n.Decode(&b); err != nil {
				probs.List = append(probs.List, Problem{Path: path, Line: n.Line, Message: fmt.Sprintf("%q is not true or false", n.Value)})
			}
		case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
			if !isInt(n.Value) {
				probs.List = append(probs.List, Problem{Path: path, Line: n.Line, Message: fmt.Sprintf("%q is not a whole number", n.Value)})
			}
		}
	}
}

// checkParamKeys checks a command's params: a mapping of distinct names
// to parameters.
func checkParamKeys(n *yaml.Node, path string, probs *Problems) {
	if n.Kind != yaml.MappingNode {
		if n.Tag != "!!null" {
			probs.List = append(probs.List, Problem{Path: pathOr(path), Line: n.Line, Message: "must be a mapping of parameter names to parameters"})
		}
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		sub := join(path, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			probs.List = append(probs.List, Problem{Path: path, Line: k.Line, Message: "a parameter's name must be a single value"})
		case seen[k.Value]:
			probs.List = append(probs.List, Problem{Path: sub, Line: k.Line, Message: "is defined twice"})
		default:
			seen[k.Value] = true
			checkKeys(v, typeOfParam, sub, probs)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func pathOr(p string) string {
	if p == "" {
		return "(document)"
	}
	return p
}

func isInt(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}
