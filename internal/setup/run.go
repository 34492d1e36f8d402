package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/accounts"
	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/provision"
	"github.com/devmgr/devmgr/internal/service"
	"github.com/devmgr/devmgr/internal/store"
)

// Options configure Run.
type Options struct {
	ConfigPath string
	Answers    Answers
	// Prompter asks for what Answers lacks; nil (no terminal) makes a
	// missing value an error.
	Prompter *Prompter
	Out      io.Writer
	Detector Detector
	// Provision installs and starts everything from the config written
	// at path; nil only writes the config.
	Provision func(ctx context.Context, c config.Config, path string) error
	// WaitPassword bounds the wait for the console's first start, which
	// writes the first admin password (default 20s).
	WaitPassword time.Duration
}

// header starts the config file setup writes.
const header = `# devmgr's config, written by devmgr setup. Check it with: devmgr config check
# Apply a change with: devmgr provision. Every key is explained in
# /etc/devmgr/devmgr.example.yaml. It holds the WiFi passphrase: keep it root:devmgr 0640.
`

// Run is devmgr setup: the answers (asked for when missing and a
// Prompter is given), the config written, the system provisioned, and a
// summary of where the console is.
func Run(ctx context.Context, o Options) error {
	if o.WaitPassword == 0 {
		o.WaitPassword = 20 * time.Second
	}
	base, have, err := loadBase(o.ConfigPath)
	if err != nil {
		return err
	}
	ifs, note, err := o.Detector.Detect(ctx)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintf(o.Out, "note: %s\n", note)
	}
	a := o.Answers
	if have {
		fmt.Fprintf(o.Out, "%s exists: values not given keep what it says\n", o.ConfigPath)
	}
	switch {
	case o.Prompter != nil:
		if err := o.Prompter.Ask(&a, base, have, ifs); err != nil {
			return err
		}
	case !have && len(a.Missing()) > 0:
		return fmt.Errorf("no terminal to ask on: give %s (devmgr setup --help)", strings.Join(a.Missing(), ", "))
	}
	if !have {
		for _, s := range a.Defaults(ifs) {
			fmt.Fprintf(o.Out, "chose %s\n", s)
		}
	}
	c, err := Apply(base, a, ifs)
	if err != nil {
		var ps Problems
		if errors.As(err, &ps) {
			return fmt.Errorf("these answers cannot be used; nothing was written:\n%w", err)
		}
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.ConfigPath), 0o755); err != nil {
		return fmt.Errorf("making the config's directory: %w", err)
	}
	if err := config.WriteKeeping(o.ConfigPath, c, header); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "wrote %s\n", o.ConfigPath)
	if o.Provision == nil {
		fmt.Fprintln(o.Out, "not provisioned: run devmgr provision")
		return nil
	}
	_, err = os.Stat(filepath.Join(c.DataDir, store.FileName))
	hadDB := err == nil
	fmt.Fprintln(o.Out, "provisioning (devmgr provision --dry-run shows every file it installs)")
	if err := o.Provision(ctx, c, o.ConfigPath); err != nil {
		return fmt.Errorf("%w\nthe config is written; after fixing the cause, run devmgr provision", err)
	}
	pw := waitPassword(ctx, filepath.Join(c.DataDir, accounts.InitialPasswordFile), hadDB, o.WaitPassword)
	fmt.Fprint(o.Out, Summary(c, ifs, pw))
	return nil
}

// loadBase is the config file at path if there is one (have), else the
// defaults with no uplink and no LAN interface (the defaults name
// interfaces a device may not have).
func loadBase(path string) (c config.Config, have bool, err error) {
	c, err = config.Load(path)
	switch {
	case err == nil:
		return c, true, nil
	case errors.Is(err, fs.ErrNotExist):
		c = config.Default()
		c.Uplinks, c.LAN = []string{}, []string{}
		return c, false, nil
	}
	return c, false, fmt.Errorf("%w\n(fix it, or move it away to start afresh)", err)
}

// PasswordState says what the console has of its first admin.
type PasswordState int

// States of the first admin's password.
const (
	PasswordNotYet PasswordState = iota // the console has not started yet
	PasswordFile                        // in data_dir/initial-admin-password
	PasswordUsers                       // the console has users already
)

// waitPassword waits for the console's first start, which writes the
// first admin's password file; a console that had a database before setup
// ran has its users already.
func waitPassword(ctx context.Context, file string, hadDB bool, wait time.Duration) PasswordState {
	deadline := time.Now().Add(wait)
	for {
		if _, err := os.Stat(file); err == nil {
			return PasswordFile
		}
		if hadDB {
			return PasswordUsers
		}
		if time.Now().After(deadline) {
			return PasswordNotYet
		}
		select {
		case <-ctx.Done():
			return PasswordNotYet
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Summary says what was set up and how to reach the console.
func Summary(c config.Config, ifs []Interface, pw PasswordState) string {
	var b strings.Builder
	b.WriteString("\ndevmgr is set up.\n")
	fmt.Fprintf(&b, "  WiFi:      %q on %s (%s, country %s, channel %s)\n", c.AP.SSID, c.AP.Interface, c.AP.Security, c.AP.Country, c.AP.Channel)
	port := ""
	if _, p, err := net.SplitHostPort(c.Web.Listen); err == nil && p != "443" && !c.Web.TLS.Disable {
		port = ":" + p
	}
	url := func(host string) string { return "https://" + host + port + "/" }
	fmt.Fprintf(&b, "  Console:   %s or %s from the WiFi\n", url(c.FQDN()), url(c.APPrefix().Addr().String()))
	for _, i := range ifs {
		for _, lan := range c.LAN {
			if i.Name != lan {
				continue
			}
			for _, a := range i.Addresses {
				if ip, _, err := net.ParseCIDR(a); err == nil && ip.To4() != nil {
					fmt.Fprintf(&b, "             %s from the LAN (%s)\n", url(ip.String()), lan)
				}
			}
		}
	}
	if len(c.Uplinks) > 0 {
		fmt.Fprintf(&b, "             (closed on the uplinks: %s)\n", strings.Join(c.Uplinks, ", "))
	}
	if c.Web.TLS.Disable {
		b.WriteString("             through nginx: see /usr/share/doc/devmgr/README.md\n")
	}
	file := filepath.Join(c.DataDir, accounts.InitialPasswordFile)
	switch pw {
	case PasswordFile:
		fmt.Fprintf(&b, "  Sign in:   as %s with the password in %s (sudo cat it);\n             you choose a new one at the first sign-in.\n", accounts.InitialAdmin, file)
	case PasswordUsers:
		b.WriteString("  Sign in:   with a console user you have (devmgr user list).\n")
	default:
		fmt.Fprintf(&b, "  Sign in:   as %s; the console writes the password to %s when it first starts.\n", accounts.InitialAdmin, file)
	}
	b.WriteString("  The certificate is self-signed: the browser asks you to accept it once.\n")
	return b.String()
}

// ProvisionDevice returns the Provision of Options for this system: what
// devmgr provision does (the AP settings confirmed in the console, kept by
// the agent, win over the file's), with systemd as the service manager.
// Without systemd it installs and applies but starts nothing: devmgr
// provision then supervises the services in the foreground.
func ProvisionDevice(out io.Writer, log *slog.Logger) func(ctx context.Context, c config.Config, path string) error {
	return func(ctx context.Context, c config.Config, path string) error {
		ap, err := apmgr.Effective(c, "")
		if err != nil {
			return err
		}
		if ap != c.AP {
			fmt.Fprintln(out, "note: access point settings confirmed in the console override the file's (they are kept by the agent)")
		}
		c.AP = ap
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		kind := provision.ServicesAuto
		if service.Detect() != service.KindSystemd {
			kind = provision.ServicesNone
			fmt.Fprintln(out, "note: systemd is not running this system: run devmgr provision to supervise the services")
		}
		o := provision.Options{Root: "/", Stdout: io.Discard, Log: log, Binary: provision.LocalBinary(), ConfigPath: abs}
		return provision.Provision(ctx, c, o, kind)
	}
}
