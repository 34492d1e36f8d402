package setup

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/toolrun"
)

// APMode says whether a radio can be an access point.
type APMode int

// What `iw list` says of a radio's AP mode.
const (
	APUnknown APMode = iota // not a radio, or iw could not say
	APYes
	APNo
)

// Interface is a network interface as setup offers it.
type Interface struct {
	Name      string
	Kind      string // netif's: ethernet, wireless, veth, loopback, ...
	Phy       string // the radio of a WiFi interface, e.g. phy0
	AP        APMode
	Carrier   bool
	Addresses []string
	Gateway   string // of a default route through it
}

// Wireless reports whether i is a WiFi interface.
func (i Interface) Wireless() bool { return i.Kind == netif.KindWireless || i.Phy != "" }

// Describe says what i is, in a few words.
func (i Interface) Describe() string {
	var parts []string
	switch {
	case i.Wireless() && i.AP == APYes:
		parts = append(parts, "WiFi, can be an access point")
	case i.Wireless() && i.AP == APNo:
		parts = append(parts, "WiFi, no AP mode")
	case i.Wireless():
		parts = append(parts, "WiFi")
	default:
		parts = append(parts, i.Kind)
	}
	if len(i.Addresses) > 0 {
		parts = append(parts, strings.Join(i.Addresses, " "))
	}
	if i.Gateway != "" {
		parts = append(parts, "default route via "+i.Gateway)
	} else if !i.Carrier && !i.Wireless() {
		parts = append(parts, "no link")
	}
	return strings.Join(parts, ", ")
}

// APCandidates are the WiFi interfaces, those that can be an access point
// first, then by name.
func APCandidates(ifs []Interface) []Interface {
	var out []Interface
	for _, i := range ifs {
		if i.Wireless() && i.AP != APNo {
			out = append(out, i)
		}
	}
	slices.SortStableFunc(out, func(a, b Interface) int {
		if (a.AP == APYes) != (b.AP == APYes) {
			if a.AP == APYes {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// UplinkCandidates are the interfaces that could carry the AP's traffic
// out: all but loopback and the AP interface, those with a default route
// first, then those with a link, then by name.
func UplinkCandidates(ifs []Interface, ap string) []Interface {
	var out []Interface
	for _, i := range ifs {
		if i.Kind != netif.KindLoopback && i.Name != ap {
			out = append(out, i)
		}
	}
	rank := func(i Interface) int {
		switch {
		case i.Gateway != "":
			return 0
		case i.Carrier:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(out, func(a, b Interface) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// ParseIWList returns each radio's supported interface modes from the
// output of `iw list`.
func ParseIWList(out string) map[string][]string {
	modes := map[string][]string{}
	var phy string
	in := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if name, ok := strings.CutPrefix(l, "Wiphy "); ok {
			phy, in = strings.TrimSpace(name), false
			modes[phy] = nil
			continue
		}
		t := strings.TrimSpace(l)
		switch {
		case phy == "":
		case t == "Supported interface modes:":
			in = true
		case in && strings.HasPrefix(t, "* "):
			modes[phy] = append(modes[phy], strings.TrimPrefix(t, "* "))
		default:
			in = false
		}
	}
	return modes
}

// Detector finds the system's interfaces.
type Detector struct {
	// List lists the interfaces (netif.List in the calling namespace).
	List func(ctx context.Context) ([]netif.Interface, error)
	// IWList runs `iw list`; an error leaves the AP modes unknown.
	IWList func(ctx context.Context) (string, error)
	// SysNet is /sys/class/net, where a WiFi interface's phy80211 link
	// names its radio.
	SysNet string
}

// SystemDetector reads this system: netlink, `iw list` and sysfs.
func SystemDetector() Detector {
	return Detector{
		List: netif.List,
		IWList: func(ctx context.Context) (string, error) {
			iw, err := toolrun.LookPath("iw")
			if err != nil {
				return "", err
			}
			out, err := toolrun.Run(ctx, toolrun.Options{Timeout: 10 * time.Second}, iw, "list")
			return string(out), err
		},
		SysNet: "/sys/class/net",
	}
}

// Detect returns the interfaces with their radios' AP modes, and a
// sentence when the AP modes could not be read.
func (d Detector) Detect(ctx context.Context) ([]Interface, string, error) {
	links, err := d.List(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("listing interfaces: %w", err)
	}
	var note string
	var modes map[string][]string
	if out, err := d.IWList(ctx); err != nil {
		note = fmt.Sprintf("cannot tell which radio can be an access point (iw list: %v)", err)
	} else {
		modes = ParseIWList(out)
	}
	var ifs []Interface
	for _, l := range links {
		i := Interface{Name: l.Name, Kind: l.Kind, Carrier: l.Carrier, Gateway: l.Gateway}
		for _, a := range l.Addresses {
			if !strings.HasPrefix(a, "fe80:") {
				i.Addresses = append(i.Addresses, a)
			}
		}
		if b, err := os.ReadFile(filepath.Join(d.SysNet, l.Name, "phy80211", "name")); err == nil {
			i.Phy = strings.TrimSpace(string(b))
		}
		if m, ok := modes[i.Phy]; ok && i.Phy != "" {
			i.AP = APNo
			if slices.Contains(m, "AP") {
				i.AP = APYes
			}
		}
		ifs = append(ifs, i)
	}
	return ifs, note, nil
}
