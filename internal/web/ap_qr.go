package web

import (
	"fmt"
	"strings"

	"rsc.io/qr"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/config"
)

// wifiEscaper escapes the characters that the WIFI: format of QR codes
// (ZXing's, which phone cameras read) gives a meaning.
var wifiEscaper = strings.NewReplacer(`\`, `\\`, `;`, `\;`, `,`, `\,`, `:`, `\:`, `"`, `\"`)

// wifiJoinText is what a phone reads from the QR code to join the access
// point: WIFI:T:WPA;S:<ssid>;P:<passphrase>;; plus H:true for a hidden
// network and R:1 (the WPA3 specification's "transition disable") for a
// WPA3-only one, which readers that do not know it skip.
func wifiJoinText(s api.APSecretSettings) string {
	var b strings.Builder
	b.WriteString("WIFI:T:WPA;")
	if s.Security == config.SecurityWPA3 {
		b.WriteString("R:1;")
	}
	b.WriteString("S:" + wifiEscaper.Replace(s.SSID) + ";")
	b.WriteString("P:" + wifiEscaper.Replace(s.Passphrase) + ";")
	if s.Hidden {
		b.WriteString("H:true;")
	}
	b.WriteString(";")
	return b.String()
}

// qrQuiet is the blank margin a reader needs around a QR code, in modules.
const qrQuiet = 4

// qrCode is a QR code drawn as SVG: a square of Size modules (margin
// included) and one path of its dark modules, so that the page draws it
// without script, image file or inline style.
type qrCode struct {
	Size int
	Path string
}

// newQRCode encodes text with medium error correction. Its errors never
// hold the text, which may be a secret.
func newQRCode(text string) (qrCode, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return qrCode{}, fmt.Errorf("encoding %d bytes as a QR code: %w", len(text), err)
	}
	var b strings.Builder
	for y := range c.Size {
		for x := 0; x < c.Size; {
			if !c.Black(x, y) {
				x++
				continue
			}
			run := 1
			for x+run < c.Size && c.Black(x+run, y) {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x+qrQuiet, y+qrQuiet, run, run)
			x += run
		}
	}
	return qrCode{Size: c.Size + 2*qrQuiet, Path: b.String()}, nil
}
