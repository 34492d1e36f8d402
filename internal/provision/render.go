package provision

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dnsmasq"
)

const header = "# Rendered by devmgr from its config; changes here are overwritten.\n"

func renderTemplate(name, text string, data any) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{"base": filepath.Base}).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parsing template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("executing template %s: %w", name, err)
	}
	return b.Bytes(), nil
}

func renderSysctl() []byte {
	return []byte(header + "# AP clients reach the uplinks through NAT.\nnet.ipv4.ip_forward = 1\n")
}

// renderNetworkAP gives the AP interface its static address, with no DHCP
// client and no IPv6 autoconfiguration, and keeps it configured while no
// station is associated (no carrier).
func renderNetworkAP(c config.Config) []byte {
	return fmt.Appendf(nil, `%s# The access point's static address; hostapd and dnsmasq do the rest.
[Match]
Name=%s

[Link]
RequiredForOnline=no

[Network]
Address=%s
DHCP=no
LinkLocalAddressing=no
IPv6AcceptRA=no
ConfigureWithoutCarrier=yes
IgnoreCarrierLoss=yes
`, header, c.AP.Interface, c.APPrefix())
}

// renderNetworkUnmanaged keeps systemd-networkd off a LAN interface that
// devmgr's agent configures.
func renderNetworkUnmanaged(iface string) []byte {
	return fmt.Appendf(nil, `%s# devmgr's agent configures this LAN interface; networkd leaves it alone.
[Match]
Name=%s

[Link]
Unmanaged=yes
`, header, iface)
}

// renderNM keeps NetworkManager off the AP and LAN interfaces.
func renderNM(c config.Config) []byte {
	ifaces := append([]string{c.AP.Interface}, c.LAN...)
	specs := make([]string, len(ifaces))
	for i, n := range ifaces {
		specs[i] = "interface-name:" + n
	}
	return fmt.Appendf(nil, "%s# devmgr manages these interfaces; NetworkManager must not.\n[keyfile]\nunmanaged-devices=%s\n",
		header, strings.Join(specs, ";"))
}

// renderConfigStamp is a digest of the config. The agent and the console
// read the config only when they start; the stamp's Units restart them
// when it changes, so that any change (web.listen, say) takes effect with
// the next provision. 0600: the config holds the passphrase.
func renderConfigStamp(c config.Config) ([]byte, error) {
	b, err := config.Marshal(c, "")
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "%s# A digest of the config the agent and the console run with; when it changes,\n# provision restarts them.\nsha256:%x\n", header, sha256.Sum256(b)), nil
}

func renderSysusers(c config.Config) []byte {
	return fmt.Appendf(nil, "%s# The unprivileged account of the web console.\nu %s - \"devmgr web console\" %s\n",
		header, c.Web.User, c.DataDir)
}

func renderTmpfiles(c config.Config) []byte {
	var b strings.Builder
	b.WriteString(header)
	fmt.Fprintf(&b, "d %s 0750 %s %s -\n", c.DataDir, c.Web.User, c.Web.User)
	if dir := filepath.Dir(c.Agent.Socket); dir != "/" && dir != "/run" && dir != "/tmp" {
		fmt.Fprintf(&b, "d %s 0750 root %s -\n", dir, c.Web.User)
	}
	if dir := filepath.Dir(DnsmasqPIDFile); dir != filepath.Dir(c.Agent.Socket) {
		fmt.Fprintf(&b, "d %s 0750 root %s -\n", dir, c.Web.User)
	}
	// The agent's own state and the backups: root only. tmpfiles also
	// corrects the owner and mode of a directory that exists.
	fmt.Fprintf(&b, "d %s 0700 root root -\n", c.Agent.StateDir)
	fmt.Fprintf(&b, "d %s 0700 root root -\n", c.Backup.Dir)
	// dnsmasq reads its servers-file after dropping root.
	fmt.Fprintf(&b, "d %s 0755 root root -\n", filepath.Dir(dnsmasq.DefaultServersFile))
	fmt.Fprintf(&b, "d %s 0755 root root -\n", filepath.Dir(dnsmasq.DefaultLeaseFile))
	return []byte(b.String())
}

type unitValues struct {
	Binary, ConfigPath, Hostapd, Dnsmasq, Nft string
	HostapdConf, DnsmasqConf, NftRuleset      string
	Interface, User, DataDir                  string
	// Device is the systemd device unit of the AP interface.
	Device string
	// Directories the sandboxed units may write (ReadWritePaths=).
	HostapdDir, SocketDir, ServersDir, PIDDir, LeaseDir, DHCPDir string
	// StateDir is agent.state_dir; StateDirectory is its name under
	// /var/lib when it is directly there ("" otherwise), so systemd makes
	// it and keeps it root:root 0700 as well.
	StateDir, StateDirectory string
	// AgentTmp is the agent's TMPDIR (see unitAgent).
	AgentTmp string
	// BackupDir and Schedule are backup.dir and backup.schedule.
	BackupDir, Schedule string
}

// DeviceUnit is the systemd device unit of a network interface, escaped
// as systemd-escape does ('-' is \x2d, a leading '.' is \x2e).
func DeviceUnit(iface string) string {
	var b strings.Builder
	for i := 0; i < len(iface); i++ {
		c := iface[i]
		if c == '-' || c == '\\' || (c == '.' && i == 0) {
			fmt.Fprintf(&b, "\\x%02x", c)
			continue
		}
		b.WriteByte(c)
	}
	return "sys-subsystem-net-devices-" + b.String() + ".device"
}

func unitData(c config.Config, o Options) unitValues {
	return unitValues{
		Binary: o.Binary, ConfigPath: o.ConfigPath, Hostapd: o.Hostapd, Dnsmasq: o.Dnsmasq, Nft: o.Nft,
		HostapdConf: device.HostapdConf, DnsmasqConf: device.DnsmasqConf, NftRuleset: device.NftRuleset,
		Interface: c.AP.Interface, User: c.Web.User, DataDir: c.DataDir,
		Device:     DeviceUnit(c.AP.Interface),
		HostapdDir: filepath.Dir(device.HostapdConf), SocketDir: filepath.Dir(c.Agent.Socket),
		ServersDir: filepath.Dir(dnsmasq.DefaultServersFile), PIDDir: filepath.Dir(DnsmasqPIDFile),
		LeaseDir: filepath.Dir(dnsmasq.DefaultLeaseFile), DHCPDir: device.DnsmasqDHCPDir,
		StateDir: c.Agent.StateDir, StateDirectory: stateDirectory(c.Agent.StateDir),
		AgentTmp:  AgentTmpDir,
		BackupDir: c.Backup.Dir, Schedule: c.Backup.Schedule,
	}
}

// AgentTmpDir is the agent's TMPDIR, a RuntimeDirectory= of its unit.
const AgentTmpDir = "/run/devmgr-agent-tmp"

// stateDirectory is dir's name for StateDirectory= when dir is directly
// under /var/lib, else "".
func stateDirectory(dir string) string {
	if rest, ok := strings.CutPrefix(dir, "/var/lib/"); ok && rest != "" && !strings.Contains(rest, "/") {
		return rest
	}
	return ""
}

// The agent is root and keeps only the capabilities its work needs:
// NET_ADMIN (netlink: links, addresses, routes), NET_RAW and
// NET_BIND_SERVICE (the DHCP client's packet socket and port 68; ping and
// traceroute), KILL (SIGHUP to dnsmasq, which runs as nobody), CHOWN (its
// socket's group) and SYS_ADMIN (setns into its network namespace, and the
// empty network namespace hostapd's parser runs in: RestrictNamespaces=net).
// It writes only the hostapd config and deny list, its socket directory,
// dnsmasq's servers-file, the DHCP range and static leases of dnsmasq's
// config (device.DnsmasqDHCPDir, never the rest of /etc/devmgr, where the
// config file with the command whitelist lives), agent.state_dir and
// backup.dir. The backups it makes, as devmgr-backup.service does, take
// the console's part as web.user in a child process (SETUID, SETGID),
// which writes its database snapshot in data_dir; the agent itself never
// opens a file there.
// ProtectProc stays default: it reads /proc/PID/comm of dnsmasq (another
// user) before signalling it.
// PrivateTmp would hide the agent's hostapd control socket (bound in TMPDIR)
// from hostapd, which replies to its path: TMPDIR is a directory in /run
// that only root can enter.
// The sandbox lines every long-running unit shares (systemd.exec(5));
// each unit adds what its work allows beyond them.
const (
	protectKernel = `ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
`
	restrictProcess = `RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
`
)

const unitAgent = header + `[Unit]
Description=devmgr agent (privileged: network, firewall, commands, reset)
Documentation=https://github.com/devmgr/devmgr
After=network.target devmgr-firewall.service
Wants=network.target

[Service]
Type=simple
ExecStart={{.Binary}} agent --config {{.ConfigPath}}
Restart=on-failure
RestartSec=2
UMask=0077
Environment=TMPDIR={{.AgentTmp}}
RuntimeDirectory={{base .AgentTmp}}
RuntimeDirectoryMode=0700
{{- if .StateDirectory}}
StateDirectory={{.StateDirectory}}
StateDirectoryMode=0700
{{- end}}
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_KILL CAP_CHOWN CAP_SYS_ADMIN CAP_SETUID CAP_SETGID
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={{.HostapdDir}} {{.SocketDir}} {{.ServersDir}} {{.DHCPDir}}{{if not .StateDirectory}} {{.StateDir}}{{end}} {{.BackupDir}} {{.DataDir}}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
` + protectKernel + `RestrictNamespaces=net
` + restrictProcess + `RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6 AF_PACKET
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
`

const unitWeb = header + `[Unit]
Description=devmgr web console
Documentation=https://github.com/devmgr/devmgr
After=network.target devmgr-agent.service
Wants=network.target devmgr-agent.service

[Service]
Type=simple
User={{.User}}
Group={{.User}}
ExecStart={{.Binary}} serve --config {{.ConfigPath}}
Restart=on-failure
RestartSec=2
UMask=0027
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ReadWritePaths={{.DataDir}}
` + protectKernel + `ProtectProc=invisible
RestrictNamespaces=yes
` + restrictProcess + `RemoveIPC=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged

[Install]
WantedBy=multi-user.target
`

// hostapd stays root (it never drops privileges) with NET_ADMIN (nl80211)
// and NET_RAW (EAPOL on a packet socket). It writes only its control
// socket directory, which systemd makes (RuntimeDirectory=); it chowns
// that to ctrl_interface_group, so ~@privileged (holding @chown) cannot be
// filtered. /dev/rfkill is its only device: it follows the radio's kill
// switch.
const unitHostapd = header + `[Unit]
Description=devmgr access point (hostapd on {{.Interface}})
Documentation=https://github.com/devmgr/devmgr
Requires={{.Device}}
After={{.Device}} network.target
Wants=network.target

[Service]
Type=simple
ExecStart={{.Hostapd}} {{.HostapdConf}}
Restart=on-failure
RestartSec=2
UMask=0077
RuntimeDirectory=hostapd
RuntimeDirectoryMode=0750
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateMounts=yes
DevicePolicy=closed
DeviceAllow=/dev/rfkill r
` + protectKernel + `ProtectProc=invisible
RestrictNamespaces=yes
` + restrictProcess + `RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_PACKET AF_INET AF_INET6
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
`

// dnsmasq answers every device on the WiFi. It starts as root, writes its
// pid file and opens its leases file, then drops to nobody keeping
// NET_ADMIN (ARP entries), NET_RAW (ICMP probes before an address is
// offered) and NET_BIND_SERVICE (bind-dynamic binds 53 and 67 as the
// address appears); SETUID and SETGID are for that drop.
const unitDnsmasq = header + `[Unit]
Description=devmgr DHCP and DNS for the access point (dnsmasq on {{.Interface}})
Documentation=https://github.com/devmgr/devmgr
After=network.target devmgr-hostapd.service
Wants=network.target

[Service]
Type=simple
ExecStartPre={{.Dnsmasq}} --test --conf-file={{.DnsmasqConf}}
ExecStart={{.Dnsmasq}} --keep-in-foreground --log-facility=- --conf-file={{.DnsmasqConf}}
Restart=on-failure
RestartSec=2
UMask=0077
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={{.PIDDir}} {{.LeaseDir}}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
` + protectKernel + `ProtectProc=invisible
RestrictNamespaces=yes
` + restrictProcess + `RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_PACKET AF_INET AF_INET6
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
`

// A scheduled backup runs as root: it reads agent.state_dir and writes
// backup.dir (both root's alone), and takes the console's part as
// web.user in a child process (SETUID, SETGID: root never opens data_dir's
// files, see internal/backup). It needs no network. CHOWN keeps backup.dir
// root's should it not be.
const unitBackup = header + `[Unit]
Description=devmgr backup into {{.BackupDir}} (pruned to backup.keep)
Documentation=https://github.com/devmgr/devmgr
After=devmgr-agent.service devmgr-web.service

[Service]
Type=oneshot
ExecStart={{.Binary}} backup create --scheduled --config {{.ConfigPath}}
UMask=0077
Nice=10
IOSchedulingClass=idle
CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_CHOWN
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={{.BackupDir}} {{.DataDir}} {{.StateDir}}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateNetwork=yes
PrivateMounts=yes
` + protectKernel + `RestrictNamespaces=yes
` + restrictProcess + `RestrictAddressFamilies=AF_UNIX
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
`

// Persistent: a backup missed while the device was off is made at boot.
const unitBackupTimer = header + `[Unit]
Description=devmgr backup, {{.Schedule}}
Documentation=https://github.com/devmgr/devmgr

[Timer]
OnCalendar={{.Schedule}}
Persistent=true

[Install]
WantedBy=timers.target
`

// Debian's nftables.service starts with "flush ruleset": load after it.
const unitFirewall = header + `[Unit]
Description=devmgr firewall and NAT (nftables table inet devmgr)
Documentation=https://github.com/devmgr/devmgr
DefaultDependencies=no
After=nftables.service
Before=network-pre.target shutdown.target
Wants=network-pre.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={{.Nft}} -f {{.NftRuleset}}
ExecStop={{.Nft}} delete table inet devmgr

[Install]
WantedBy=multi-user.target
`

type nginxValues struct {
	ServerNames string
	Upstream    string
	HTTPS       bool
	Cert, Key   string
	Listen      string
	Ciphers     string
}

// NginxCiphers are the TLS 1.2 suites the nginx site offers: ECDHE with
// AEAD only, the list of Mozilla's "intermediate" profile.
const NginxCiphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" +
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" +
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

// renderNginx renders the reverse-proxy site: nginx terminates TLS on 443
// (80 redirects) and proxies to the console's listener.
func renderNginx(c config.Config, o Options) ([]byte, error) {
	host, port, err := net.SplitHostPort(c.Web.Listen)
	if err != nil {
		return nil, fmt.Errorf("web.listen: %w", err)
	}
	if a, err := netip.ParseAddr(host); host == "" || err == nil && a.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "https"
	if c.Web.TLS.Disable {
		scheme = "http"
	}
	cert, key := NginxCertDefault, NginxKeyDefault
	if c.Web.TLS.Cert != "" {
		cert, key = c.Web.TLS.Cert, c.Web.TLS.Key
	}
	return renderTemplate("nginx", nginxSite, nginxValues{
		ServerNames: c.FQDN() + " " + c.APPrefix().Addr().String(),
		Upstream:    scheme + "://" + net.JoinHostPort(host, port),
		HTTPS:       !c.Web.TLS.Disable,
		Cert:        cert, Key: key,
		Listen: c.Web.Listen, Ciphers: NginxCiphers,
	})
}

const nginxSite = header + `# Reverse proxy for the devmgr console. To use it, set web.listen to a
# loopback address (for example 127.0.0.1:8080) with web.tls.disable: true,
# re-run devmgr provision, then:
#   ln -s /etc/nginx/sites-available/devmgr /etc/nginx/sites-enabled/devmgr
#   systemctl reload nginx
# web.listen is now {{.Listen}}.
server {
	listen 80;
	listen [::]:80;
	server_name {{.ServerNames}};
	return 301 https://$host$request_uri;
}

server {
	listen 443 ssl http2;
	listen [::]:443 ssl http2;
	server_name {{.ServerNames}};

	ssl_certificate {{.Cert}};
	ssl_certificate_key {{.Key}};
	# TLS 1.2 and 1.3 only, AEAD ciphers only (as the console's own TLS);
	# TLS 1.3's suites are all AEAD. Session tickets off: their key would
	# break forward secrecy until nginx restarts.
	ssl_protocols TLSv1.2 TLSv1.3;
	ssl_ciphers {{.Ciphers}};
	ssl_prefer_server_ciphers off;
	ssl_session_cache shared:devmgr:1m;
	ssl_session_timeout 1h;
	ssl_session_tickets off;

	add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;

	client_max_body_size 1m;

	location / {
		proxy_pass {{.Upstream}};
		# nginx sends HSTS itself; the console's own would make two.
		proxy_hide_header Strict-Transport-Security;
{{- if .HTTPS}}
		# The console's own certificate is self-signed on loopback.
		proxy_ssl_verify off;
{{- end}}
		proxy_http_version 1.1;
		proxy_set_header Host $host;
		proxy_set_header X-Real-IP $remote_addr;
		proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
		proxy_set_header X-Forwarded-Proto $scheme;
		proxy_set_header Connection "";
		# Command output and reset progress are streamed.
		proxy_buffering off;
		proxy_read_timeout 1h;
	}
}
`
