package firewall

import (
	"testing"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/google/go-cmp/cmp"
)

func TestConsolePorts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		listen, redirect string
		want             []int
	}{
		{":443", "", []int{443}},
		{":443", ":80", []int{80, 443}},
		{"0.0.0.0:8443", "[::]:8080", []int{8080, 8443}},
		{"127.0.0.1:8080", "", []int{80, 443}},
		{"localhost:8080", "", []int{80, 443}},
		{"bogus", "", nil},
	}
	for _, tt := range tests {
		c := config.Default()
		c.Web.Listen, c.Web.RedirectListen = tt.listen, tt.redirect
		if diff := cmp.Diff(tt.want, ConsolePorts(c)); diff != "" {
			t.Errorf("ConsolePorts(%q, %q) (-want +got):\n%s", tt.listen, tt.redirect, diff)
		}
	}
}
