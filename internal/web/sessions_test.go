package web

import (
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/google/go-cmp/cmp"
)

// TestSessionCodec: the codec gives back what it was given, reads the rows
// scs's gob codec wrote (sessions from before it), falls back to gob for a
// value of another type, and refuses damaged data.
func TestSessionCodec(t *testing.T) {
	t.Parallel()
	deadline := time.Unix(0, 1_800_000_000_123_456_789)
	values := map[string]any{
		keyUserID: int64(7), keyEpoch: int64(3), keyCreated: int64(-1), keySeen: time.Now().UnixNano(),
		keyCSRF: "tok", keyFlashText: "Saved — ünïcode", keyFlashKind: "", "n": 42, "yes": true, "no": false,
	}
	check := func(name string, b []byte) {
		t.Helper()
		d, v, err := sessionCodec{}.Decode(b)
		if err != nil {
			t.Fatalf("%s: Decode: %v", name, err)
		}
		if !d.Equal(deadline) {
			t.Errorf("%s: deadline %s, want %s", name, d, deadline)
		}
		if diff := cmp.Diff(values, v); diff != "" {
			t.Errorf("%s: values (-want +got):\n%s", name, diff)
		}
	}
	b, err := sessionCodec{}.Encode(deadline, values)
	if err != nil {
		t.Fatal(err)
	}
	check("codec", b)
	again, _ := sessionCodec{}.Encode(deadline, values)
	if string(again) != string(b) {
		t.Error("the same values encoded twice differ")
	}
	gob, err := scs.GobCodec{}.Encode(deadline, values)
	if err != nil {
		t.Fatal(err)
	}
	check("a gob row", gob)

	values["other"] = 1.5 // not a type of the codec's: gob
	b, err = sessionCodec{}.Encode(deadline, values)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:len(sessionMagic)]) == sessionMagic {
		t.Error("a float encoded without gob")
	}
	check("fallback", b)

	good, _ := sessionCodec{}.Encode(deadline, map[string]any{"k": "value", "n": int64(1)})
	for i := len(sessionMagic); i < len(good); i++ {
		if _, _, err := (sessionCodec{}).Decode(good[:i]); err == nil {
			t.Errorf("data cut at %d of %d decoded", i, len(good))
		}
	}
	if _, _, err := (sessionCodec{}).Decode(append(good, 0)); err == nil {
		t.Error("data with a trailing byte decoded")
	}
}
