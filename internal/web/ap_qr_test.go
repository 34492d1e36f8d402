package web

import (
	"fmt"
	"strings"
	"testing"

	"rsc.io/qr"

	"github.com/devmgr/devmgr/internal/agent/api"
)

func TestWifiJoinText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		in   api.APSecretSettings
		want string
	}{
		{"plain", api.APSecretSettings{APSettings: api.APSettings{SSID: "DeviceManager", Security: "wpa2-wpa3"}, Passphrase: "correct horse battery"},
			"WIFI:T:WPA;S:DeviceManager;P:correct horse battery;;"},
		{"every special character", api.APSecretSettings{APSettings: api.APSettings{SSID: `a\b;c,d:e"f`, Security: "wpa2"}, Passphrase: `p;a:s,s\w"d`},
			`WIFI:T:WPA;S:a\\b\;c\,d\:e\"f;P:p\;a\:s\,s\\w\"d;;`},
		{"hidden", api.APSecretSettings{APSettings: api.APSettings{SSID: "Café ☕", Security: "wpa2", Hidden: true}, Passphrase: "12345678"},
			"WIFI:T:WPA;S:Café ☕;P:12345678;H:true;;"},
		{"WPA3 only", api.APSecretSettings{APSettings: api.APSettings{SSID: "W", Security: "wpa3"}, Passphrase: "12345678"},
			"WIFI:T:WPA;R:1;S:W;P:12345678;;"},
	} {
		if got := wifiJoinText(c.in); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// The SVG's path draws exactly the dark modules of the code, inside the
// quiet zone.
func TestNewQRCode(t *testing.T) {
	t.Parallel()
	text := "WIFI:T:WPA;S:" + strings.Repeat("x", 32) + ";P:" + strings.Repeat(`\;`, 63) + ";H:true;;" // the longest there is
	code, err := newQRCode(text)
	if err != nil {
		t.Fatal(err)
	}
	want, err := qr.Encode(text, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	if code.Size != want.Size+2*qrQuiet {
		t.Fatalf("size %d, want %d", code.Size, want.Size+2*qrQuiet)
	}
	got := make([][]bool, code.Size)
	for i := range got {
		got[i] = make([]bool, code.Size)
	}
	for _, seg := range strings.SplitAfter(code.Path, "z") {
		if seg == "" {
			continue
		}
		var x, y, w, w2 int
		if _, err := fmt.Sscanf(seg, "M%d %dh%dv1h-%dz", &x, &y, &w, &w2); err != nil || w != w2 || w < 1 {
			t.Fatalf("path segment %q: %v", seg, err)
		}
		for i := range w {
			if got[y][x+i] {
				t.Fatalf("module %d,%d drawn twice", x+i, y)
			}
			got[y][x+i] = true
		}
	}
	for y := range code.Size {
		for x := range code.Size {
			mx, my := x-qrQuiet, y-qrQuiet
			dark := mx >= 0 && my >= 0 && mx < want.Size && my < want.Size && want.Black(mx, my)
			if got[y][x] != dark {
				t.Fatalf("module %d,%d is %v, want %v", x, y, got[y][x], dark)
			}
		}
	}
}
