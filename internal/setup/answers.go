// Package setup is devmgr's first run on a device (devmgr setup): it takes
// the few values that have no safe default (country, network name,
// passphrase, the AP interface and the uplinks) from flags or, on a
// terminal, from questions, with the system's interfaces detected and the
// AP-capable one offered first; it writes the config, provisions the
// system and says where the console is and where its first admin password
// is.
package setup

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/devmgr/devmgr/internal/config"
)

// Answers are the values setup asks for. An empty field (nil for the
// lists) was not given.
type Answers struct {
	Country, SSID, Passphrase, Security string
	APInterface                         string
	Uplinks, LAN                        []string
}

// Flags name the command-line flag of each answer, for messages.
const (
	FlagCountry     = "--country"
	FlagSSID        = "--ssid"
	FlagPassphrase  = "--passphrase-stdin"
	FlagSecurity    = "--security"
	FlagAPInterface = "--ap-interface"
	FlagUplink      = "--uplink"
	FlagLAN         = "--lan"
)

// flagOf maps a config path to the flag that sets it.
func flagOf(path string) string {
	switch {
	case path == "ap.country":
		return FlagCountry
	case path == "ap.ssid":
		return FlagSSID
	case path == "ap.passphrase":
		return FlagPassphrase
	case path == "ap.security":
		return FlagSecurity
	case path == "ap.interface":
		return FlagAPInterface
	case path == "uplinks" || strings.HasPrefix(path, "uplinks["):
		return FlagUplink
	case path == "lan" || strings.HasPrefix(path, "lan["):
		return FlagLAN
	}
	return path
}

// Problem is one answer that cannot be used, with its flag.
type Problem struct {
	Flag, Message string
}

// Problems are every problem with the answers; Error lists them one a line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Flag + ": " + p.Message
	}
	return strings.Join(lines, "\n")
}

// Missing lists the flags of the values that have no safe default and
// were not given.
func (a Answers) Missing() []string {
	var m []string
	if a.Country == "" {
		m = append(m, FlagCountry)
	}
	if a.SSID == "" {
		m = append(m, FlagSSID)
	}
	if a.Passphrase == "" {
		m = append(m, FlagPassphrase)
	}
	return m
}

// Defaults fills what can be chosen safely from the interfaces found: the
// first AP candidate as the AP interface, the interfaces with a default
// route as uplinks, and WPA2/WPA3 transition mode. The choices are
// returned as sentences, to be shown.
func (a *Answers) Defaults(ifs []Interface) []string {
	var said []string
	if a.Security == "" {
		a.Security = config.SecurityWPA2WPA3
	}
	if a.APInterface == "" {
		if c := APCandidates(ifs); len(c) > 0 {
			a.APInterface = c[0].Name
			said = append(said, fmt.Sprintf("access point on %s (%s)", c[0].Name, c[0].Describe()))
		}
	}
	if a.Uplinks == nil {
		a.Uplinks = []string{}
		for _, i := range UplinkCandidates(ifs, a.APInterface) {
			if i.Gateway != "" {
				a.Uplinks = append(a.Uplinks, i.Name)
			}
		}
		if len(a.Uplinks) > 0 {
			said = append(said, "uplinks (NAT to them): "+strings.Join(a.Uplinks, ", "))
		} else {
			said = append(said, "no uplink: no interface has a default route (set "+FlagUplink+")")
		}
	}
	return said
}

// Apply puts the answers into base (the config file's values, or the
// defaults) and checks the result: the config's own rules, a passphrase,
// and interfaces that exist here and suit their role. Every problem is
// returned, each with its flag.
func Apply(base config.Config, a Answers, ifs []Interface) (config.Config, error) {
	c := base
	if a.Country != "" {
		c.AP.Country = strings.ToUpper(a.Country)
	}
	if a.SSID != "" {
		c.AP.SSID = a.SSID
	}
	if a.Passphrase != "" {
		c.AP.Passphrase = a.Passphrase
	}
	if a.Security != "" {
		c.AP.Security = a.Security
	}
	if a.APInterface != "" {
		c.AP.Interface = a.APInterface
	}
	if a.Uplinks != nil {
		c.Uplinks = slices.Clone(a.Uplinks)
	}
	if a.LAN != nil {
		c.LAN = slices.Clone(a.LAN)
	}
	var ps Problems
	if err := c.Validate(); err != nil {
		var cps *config.Problems
		if !errors.As(err, &cps) {
			return c, err
		}
		for _, p := range cps.List {
			ps = append(ps, Problem{Flag: flagOf(p.Path), Message: p.Message})
		}
	}
	if c.AP.Passphrase == "" {
		ps = append(ps, Problem{Flag: FlagPassphrase, Message: "is required: 8 to 63 characters"})
	}
	ps = append(ps, checkInterfaces(c, ifs)...)
	if len(ps) > 0 {
		return c, ps
	}
	return c, nil
}

// checkInterfaces checks the named interfaces against those found: the AP
// interface must be a WiFi interface that can be an access point; an
// uplink or LAN interface that is not here is refused too (a typo would
// leave the device without NAT).
func checkInterfaces(c config.Config, ifs []Interface) Problems {
	if ifs == nil {
		return nil // nothing detected: nothing to check against
	}
	byName := map[string]Interface{}
	var names []string
	for _, i := range ifs {
		byName[i.Name] = i
		if i.Kind != "loopback" {
			names = append(names, i.Name)
		}
	}
	here := "interfaces here: " + strings.Join(names, ", ")
	var ps Problems
	ap, ok := byName[c.AP.Interface]
	switch {
	case !ok:
		ps = append(ps, Problem{FlagAPInterface, fmt.Sprintf("%s is not an interface of this system (%s)", c.AP.Interface, here)})
	case !ap.Wireless():
		ps = append(ps, Problem{FlagAPInterface, fmt.Sprintf("%s is not a WiFi interface", ap.Name)})
	case ap.AP == APNo:
		ps = append(ps, Problem{FlagAPInterface, fmt.Sprintf("%s cannot be an access point (its radio %s has no AP mode in `iw list`)", ap.Name, ap.Phy)})
	}
	for _, l := range []struct {
		flag  string
		names []string
	}{{FlagUplink, c.Uplinks}, {FlagLAN, c.LAN}} {
		for _, n := range l.names {
			if _, ok := byName[n]; !ok {
				ps = append(ps, Problem{l.flag, fmt.Sprintf("%s is not an interface of this system (%s)", n, here)})
			}
		}
	}
	return ps
}

var countryRE = regexp.MustCompile(`^[A-Za-z]{2}$`)

// checkCountry is the check of a country answer before it is applied.
func checkCountry(s string) error {
	if !countryRE.MatchString(s) || !config.KnownCountry(strings.ToUpper(s)) {
		return fmt.Errorf("%q is not an ISO 3166 country code (such as US, DE, GB)", s)
	}
	return nil
}
