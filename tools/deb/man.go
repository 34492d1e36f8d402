package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// ManPage writes devmgr(1) from the help of every command of the devmgr
// binary bin (cobra's --help output), so that the man page says what the
// shipped binary says.
func ManPage(ctx context.Context, bin, version string, t time.Time) ([]byte, error) {
	help := func(path []string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, append(append([]string{}, path...), "--help")...)
		cmd.Env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin"}
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("running %s %s --help: %w: %s", bin, strings.Join(path, " "), err, stderr.String())
		}
		return out.String(), nil
	}
	root, err := help(nil)
	if err != nil {
		return nil, err
	}
	var sections []manSection
	var walk func(path []string, text string) error
	walk = func(path []string, text string) error {
		for _, sub := range Subcommands(text) {
			p := append(append([]string{}, path...), sub)
			h, err := help(p)
			if err != nil {
				return err
			}
			sections = append(sections, manSection{Name: "devmgr " + strings.Join(p, " "), Help: h})
			if err := walk(p, h); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(nil, root); err != nil {
		return nil, err
	}
	return renderMan(version, t, root, sections), nil
}

type manSection struct{ Name, Help string }

// Subcommands lists the commands under "Available Commands:" of cobra's
// help, without help and completion.
func Subcommands(help string) []string {
	var subs []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasSuffix(l, "Commands:"):
			in = true
		case in && strings.HasPrefix(l, "  "):
			f := strings.Fields(l)
			if len(f) > 0 && f[0] != "help" && f[0] != "completion" {
				subs = append(subs, f[0])
			}
		default:
			in = false
		}
	}
	return subs
}

func renderMan(version string, t time.Time, root string, sections []manSection) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, ".\\\" devmgr(1), made by tools/deb from the help of devmgr %s.\n", version)
	fmt.Fprintf(&b, ".TH DEVMGR 1 %q %q \"devmgr manual\"\n", t.UTC().Format("2006-01-02"), "devmgr "+version)
	b.WriteString(".SH NAME\ndevmgr \\- WiFi access-point appliance manager and web console\n")
	b.WriteString(".SH SYNOPSIS\n.B devmgr\n.I command\n.RI [ flags ]\n")
	b.WriteString(".SH DESCRIPTION\n")
	b.WriteString("On a new device, run\n.B devmgr setup\nas root: it asks for the values that have no safe default " +
		"(country, network name, passphrase, interfaces), writes the config, provisions the system and prints " +
		"the console's address and where the first admin password is.\n")
	b.WriteString(".PP\n.nf\n")
	b.WriteString(roffLiteral(root))
	b.WriteString(".fi\n.SH COMMANDS\n")
	for _, s := range sections {
		fmt.Fprintf(&b, ".SS %q\n.nf\n", s.Name)
		b.WriteString(roffLiteral(s.Help))
		b.WriteString(".fi\n")
	}
	b.WriteString(`.SH FILES
.TP
.I /etc/devmgr/devmgr.yaml
the config (root:devmgr 0640); DEVMGR_CONFIG or --config name another
.TP
.I /etc/devmgr/devmgr.example.yaml
every key with its default
.TP
.I /var/lib/devmgr
the console's database and TLS pair; initial-admin-password until the first login
.TP
.I /var/lib/devmgr-agent
the agent's journals and audit log
.SH SEE ALSO
.BR hostapd (8),
.BR dnsmasq (8),
.BR nft (8),
/usr/share/doc/devmgr/README.md
`)
	return []byte(b.String())
}

// roffLiteral escapes text for a no-fill block: backslashes, and lines
// that would start a request.
func roffLiteral(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		l = strings.ReplaceAll(l, `\`, `\e`)
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		b.WriteString(l)
		b.WriteString("\n")
	}
	return b.String()
}
