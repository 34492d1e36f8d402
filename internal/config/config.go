// Package config holds devmgr's one configuration file: its types, the
// defaults, strict loading (an unknown key is an error naming key and line)
// and validation whose problems carry the YAML path of the offending value.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultPath is where a device keeps its config; DEVMGR_CONFIG overrides it.
const DefaultPath = "/etc/devmgr/devmgr.yaml"

// Config is the whole devmgr configuration.
type Config struct {
	DataDir  string   `yaml:"data_dir"`
	Web      Web      `yaml:"web"`
	Agent    Agent    `yaml:"agent"`
	AP       AP       `yaml:"ap"`
	Uplinks  []string `yaml:"uplinks"`
	LAN      []string `yaml:"lan"`
	Network  Network  `yaml:"network"`
	Backup   Backup   `yaml:"backup"`
	Reset    Reset    `yaml:"reset"`
	Firewall Firewall `yaml:"firewall"`
	Audit    Audit    `yaml:"audit"`
	// Commands is the command catalog; nil (the key left out) is
	// DefaultCommands. Use Catalog, which fills in the defaults.
	Commands       []Command      `yaml:"commands,omitempty"`
	CommandHistory CommandHistory `yaml:"command_history"`
}

// Web configures the console (devmgr serve).
type Web struct {
	// Listen is host:port of the HTTPS (or, behind nginx, plain HTTP) listener.
	Listen string `yaml:"listen"`
	// RedirectListen, when set (e.g. ":80"), serves redirects to HTTPS.
	RedirectListen string  `yaml:"redirect_listen"`
	TLS            TLS     `yaml:"tls"`
	Session        Session `yaml:"session"`
	// User is the unprivileged account the console runs as; the agent serves
	// only root and this user's uid.
	User string `yaml:"user"`
}

// TLS configures the console's certificate.
type TLS struct {
	Cert    string `yaml:"cert"`
	Key     string `yaml:"key"`
	Disable bool   `yaml:"disable"`
}

// Session configures login sessions.
type Session struct {
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	Lifetime    time.Duration `yaml:"lifetime"`
}

// Agent configures the privileged agent.
type Agent struct {
	Socket string `yaml:"socket"`
	// StateDir is the agent's own directory (root:root 0700): its journals
	// and its audit log. The console account must not be able to write it.
	StateDir string `yaml:"state_dir"`
}

// Audit configures how long the audit logs (the console's and the
// agent's) keep their entries.
type Audit struct {
	// Keep is the age after which entries are removed ("90d", "2160h").
	Keep Age `yaml:"keep"`
	// MaxRows caps each log; the oldest entries go first.
	MaxRows int `yaml:"max_rows"`
}

// AP configures the WiFi access point.
type AP struct {
	Interface   string  `yaml:"interface"`
	SSID        string  `yaml:"ssid"`
	Passphrase  string  `yaml:"passphrase"`
	Security    string  `yaml:"security"`
	Country     string  `yaml:"country"`
	Band        string  `yaml:"band"`
	Channel     Channel `yaml:"channel"`
	Address     string  `yaml:"address"`
	DHCP        DHCP    `yaml:"dhcp"`
	Domain      string  `yaml:"domain"`
	Hostname    string  `yaml:"hostname"`
	Isolate     bool    `yaml:"isolate"`
	Hidden      bool    `yaml:"hidden"`
	MaxStations int     `yaml:"max_stations"`
}

// DHCP is the AP's DHCP range and lease time.
type DHCP struct {
	Start string        `yaml:"start"`
	End   string        `yaml:"end"`
	Lease time.Duration `yaml:"lease"`
}

// Network configures the Network module.
type Network struct {
	RollbackTimeout time.Duration `yaml:"rollback_timeout"`
}

// Firewall configures the rendered nftables ruleset.
type Firewall struct {
	// AllowAPToLAN lets AP clients reach the LAN interfaces' networks.
	AllowAPToLAN bool `yaml:"allow_ap_to_lan"`
}

// Security modes of the AP.
const (
	SecurityWPA2     = "wpa2"
	SecurityWPA3     = "wpa3"
	SecurityWPA2WPA3 = "wpa2-wpa3"
)

// Bands of the AP.
const (
	Band24 = "2.4ghz"
	Band5  = "5ghz"
)

// Default returns the configuration used for every key the file leaves out.
func Default() Config {
	return Config{
		DataDir: "/var/lib/devmgr",
		Backup:  DefaultBackup(),
		Reset:   DefaultReset(),
		Web: Web{
			Listen:  ":443",
			Session: Session{IdleTimeout: 15 * time.Minute, Lifetime: 8 * time.Hour},
			User:    "devmgr",
		},
		Agent: Agent{Socket: "/run/devmgr/agent.sock", StateDir: "/var/lib/devmgr-agent"},
		AP: AP{
			Interface:   "wlan0",
			SSID:        "DeviceManager",
			Security:    SecurityWPA2WPA3,
			Country:     "US",
			Band:        Band24,
			Channel:     6,
			Address:     "192.168.4.1/24",
			DHCP:        DHCP{Start: "192.168.4.2", End: "192.168.4.20", Lease: 24 * time.Hour},
			Domain:      "local",
			Hostname:    "device",
			MaxStations: 32,
		},
		Uplinks:        []string{"eth0"},
		LAN:            []string{"eth1"},
		Network:        Network{RollbackTimeout: 60 * time.Second},
		Audit:          Audit{Keep: Age(90 * 24 * time.Hour), MaxRows: 100_000},
		CommandHistory: CommandHistory{KeepRuns: 10_000, MaxSize: 256 << 20},
	}
}

// Path returns the config path to use: flag, then DEVMGR_CONFIG, then DefaultPath.
func Path(flag string) string {
	if flag != "" {
		return flag
	}
	if p := os.Getenv("DEVMGR_CONFIG"); p != "" {
		return p
	}
	return DefaultPath
}

// Load reads, strictly decodes and validates the file at path.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a YAML document over the defaults and validates the result.
// The error is a *Problems listing everything wrong, each with its path:
// unknown keys and mistyped values as well as invalid values.
func Parse(b []byte) (Config, error) {
	c, err := Decode(b)
	var probs Problems
	if err != nil {
		var ps *Problems
		if !errors.As(err, &ps) {
			return c, err
		}
		probs.List = append(probs.List, ps.List...)
	}
	if err := c.Validate(); err != nil {
		var ps *Problems
		if errors.As(err, &ps) {
			for _, p := range ps.List {
				if !probs.has(p.Path) {
					probs.List = append(probs.List, p)
				}
			}
		}
	}
	if len(probs.List) > 0 {
		return c, &probs
	}
	return c, nil
}

// Decode decodes a YAML document over the defaults without validating
// values. Unknown keys and type mismatches are reported as *Problems.
func Decode(b []byte) (Config, error) {
	c := Default()
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return c, &Problems{List: []Problem{{Message: syntaxMessage(err)}}}
	}
	if len(root.Content) == 0 {
		return c, nil // an empty file: all defaults
	}
	var probs Problems
	checkKeys(root.Content[0], typeOfConfig, "", &probs)
	// Decode even when keys are unknown, so that one run reports every problem.
	err := root.Decode(&c)
	c.Reset = c.Reset.withModeDefaults()
	if err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			if len(probs.List) > 0 {
				return c, &probs
			}
			return c, &Problems{List: []Problem{{Message: syntaxMessage(err)}}}
		}
		if len(probs.List) == 0 { // checkKeys names mistypes better; keep yaml's only as a fallback
			for _, e := range te.Errors {
				probs.add("", "%s", e)
			}
		}
	}
	if len(probs.List) > 0 {
		return c, &probs
	}
	return c, nil
}

func syntaxMessage(err error) string {
	return fmt.Sprintf("invalid YAML: %v", err)
}

// APPrefix returns the AP interface's address with its prefix length.
// It is only meaningful on a validated config.
func (c Config) APPrefix() netip.Prefix {
	p, _ := netip.ParsePrefix(c.AP.Address)
	return p
}

// FQDN is the name under which the device answers on the AP, e.g. device.local.
func (c Config) FQDN() string {
	return c.AP.Hostname + "." + c.AP.Domain
}
