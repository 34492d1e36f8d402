package firewall

import (
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/devmgr/devmgr/internal/config"
)

// ConsolePorts returns the TCP ports on which the console answers, for
// Options.ConsolePorts: the ports of web.listen and web.redirect_listen,
// or, when web.listen is a loopback address (the console behind nginx),
// the ports nginx serves it on, 443 and 80.
func ConsolePorts(c config.Config) []int {
	var ports []int
	for _, hp := range []string{c.Web.Listen, c.Web.RedirectListen} {
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			continue
		}
		if a, err := netip.ParseAddr(host); (err == nil && a.IsLoopback()) || host == "localhost" {
			ports = append(ports, 443, 80)
			continue
		}
		if p, err := strconv.Atoi(port); err == nil && p > 0 && p < 65536 {
			ports = append(ports, p)
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}
