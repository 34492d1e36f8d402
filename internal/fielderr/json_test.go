package fielderr

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// What a form or an API client is told about a body encoding/json could
// not decode: sentences naming the field, never Go's or JSON's words.
func TestFromJSON(t *testing.T) {
	t.Parallel()
	type request struct {
		Host      string   `json:"host"`
		Count     *int     `json:"count,omitempty"`
		MaxHops   int      `json:"max_hops"`
		Ratio     float64  `json:"ratio"`
		Up        bool     `json:"up"`
		Addresses []string `json:"addresses"`
	}
	for _, tc := range []struct {
		body string
		want Error
	}{
		{`{"count":"4"}`, Error{"count", "Count must be a whole number."}},
		{`{"count":1.5}`, Error{"count", "Count must be a whole number."}},
		{`{"max_hops":"x"}`, Error{"max_hops", "Max hops must be a whole number."}},
		{`{"host":5}`, Error{"host", "Host must be text."}},
		{`{"ratio":"x"}`, Error{"ratio", "Ratio must be a number."}},
		{`{"up":"yes"}`, Error{"up", "Up must be true or false."}},
		{`{"addresses":"10.0.0.1/24"}`, Error{"addresses", "Addresses must be a list."}},
		{`{"addresses":["10.0.0.1/24",7]}`, Error{"addresses[1]", "Addresses (entry 2) must be text."}},
		{`{"vlan":5}`, Error{"vlan", `This request has no field "vlan".`}},
		{`"host"`, Error{"", "The request body must be a JSON object."}},
		{`{"host":`, Error{"", "The request body is empty or cut short: send a JSON object."}},
		{``, Error{"", "The request body is empty or cut short: send a JSON object."}},
		{`{"host" "x"}`, Error{"", "The request body is not valid JSON (at byte 9)."}},
	} {
		dec := json.NewDecoder(strings.NewReader(tc.body))
		dec.DisallowUnknownFields()
		var v request
		err := dec.Decode(&v)
		if err == nil {
			t.Errorf("%s decoded", tc.body)
			continue
		}
		if diff := cmp.Diff(tc.want, *FromJSON(err)); diff != "" {
			t.Errorf("FromJSON(%s) (-want +got):\n%s", tc.body, diff)
		}
	}
}

func TestLabel(t *testing.T) {
	t.Parallel()
	for field, want := range map[string]string{
		"count": "Count", "max_hops": "Max hops", "addresses[0]": "Addresses (entry 1)", "dns[2]": "Dns (entry 3)", "": "",
	} {
		if got := Label(field); got != want {
			t.Errorf("Label(%q) = %q, want %q", field, got, want)
		}
	}
}
