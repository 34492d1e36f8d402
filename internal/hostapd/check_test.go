package hostapd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestCheckAcceptsRendered(t *testing.T) {
	requireHostapd(t)
	b, err := Render(testAP(), defaultOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(context.Background(), b); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestCheckNamesBadLine(t *testing.T) {
	requireHostapd(t)
	good, err := Render(testAP(), defaultOpts)
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(string(good), "\n")
	tests := []struct {
		name, extra, want string
	}{
		{"unknown key", "bogus_key=1\n", "unknown configuration item 'bogus_key'"},
		{"bad value", "wpa_passphrase=short\n", "invalid WPA passphrase length"},
		{"bad hw_mode", "hw_mode=x\n", "unknown hw_mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(context.Background(), append(good[:len(good):len(good)], tt.extra...))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Check error = %v, want *ParseError", err)
			}
			msg := err.Error()
			line := "Line " + strconv.Itoa(n+1) + ":"
			if !strings.Contains(msg, line) || !strings.Contains(strings.ToLower(msg), strings.ToLower(tt.want)) {
				t.Errorf("Check error = %q, want it to name %q and %q", msg, line, tt.want)
			}
		})
	}
}

// A check must not create or replace the control socket directory of a
// running hostapd, nor require the deny list to be installed already.
func TestCheckLeavesCtrlInterfaceAlone(t *testing.T) {
	requireHostapd(t)
	dir := t.TempDir()
	ctrl := filepath.Join(dir, "ctrl")
	deny := filepath.Join(dir, "not-yet-installed.deny")
	b, err := Render(testAP(), Options{CtrlInterface: ctrl, DenyFile: deny})
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(context.Background(), b); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := CheckWithDenyList(context.Background(), b, []byte("02:00:00:00:00:01\n")); err != nil {
		t.Fatalf("CheckWithDenyList: %v", err)
	}
	if err := CheckWithDenyList(context.Background(), b, []byte("not a mac\n")); err == nil {
		t.Error("CheckWithDenyList accepted a deny list hostapd cannot read")
	}
	for _, p := range []string{ctrl, deny} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after Check (stat: %v)", p, err)
		}
	}
}

// hostapd must decode each escape of ssid2=P"..." to one byte, as
// printfEncode assumes: 32 decoded bytes pass its SSID length check and 33
// fail it, although the escaped text is far longer.
func TestHostapdDecodesSSIDEscapesAsBytes(t *testing.T) {
	requireHostapd(t)
	good, err := Render(testAP(), defaultOpts)
	if err != nil {
		t.Fatal(err)
	}
	for _, unit := range []string{`\xc3`, `\\`, `\"`} {
		for _, n := range []int{32, 33} {
			ssid := `ssid2=P"` + strings.Repeat(unit, n) + `"`
			conf := strings.Replace(string(good), "ssid=DeviceManager", ssid, 1)
			err := Check(context.Background(), []byte(conf))
			if n == 32 && err != nil {
				t.Errorf("%d x %s: %v", n, unit, err)
			}
			if n == 33 && err == nil {
				t.Errorf("%d x %s: hostapd accepted a 33-byte SSID", n, unit)
			}
		}
	}
}
