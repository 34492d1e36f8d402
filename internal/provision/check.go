package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/firewall"
	"github.com/devmgr/devmgr/internal/hostapd"
	"github.com/devmgr/devmgr/internal/toolrun"
)

// CheckError is a rendered file that its tool rejected.
type CheckError struct {
	Path string // the file's path on the device
	Tool Check
	Err  error
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("%s does not pass %s's check: %v", e.Path, e.Tool, e.Err)
}

func (e *CheckError) Unwrap() error { return e.Err }

// errToolMissing is a validator that is not installed.
var errToolMissing = errors.New("not installed")

// optionalTool reports whether a file may go unchecked when its tool is
// missing: the nginx site is only used where nginx is installed, and unit
// files only where systemd runs (which ships systemd-analyze).
func optionalTool(c Check) bool { return c == CheckNginx || c == CheckUnit }

// checkAll validates every file with its tool and returns every failure.
// A file whose optional tool is missing is logged as unchecked.
func checkAll(ctx context.Context, files []File, log *slog.Logger) error {
	var errs []error
	var units []File
	var deny []byte
	parts := map[string][]byte{}
	for _, f := range files {
		switch f.Check {
		case CheckDenyList:
			deny = f.Content
		case CheckDHCPPart:
			parts[f.Path] = f.Content
		}
	}
	for _, f := range files {
		var err error
		switch f.Check {
		case CheckHostapd:
			err = hostapd.CheckWithDenyList(ctx, f.Content, deny)
		case CheckDnsmasq:
			err = dnsmasq.CheckDHCP(ctx, f.Content, parts[device.DnsmasqRange], parts[device.DnsmasqHosts])
		case CheckNft:
			err = firewall.Check(ctx, f.Content)
		case CheckNginx:
			err = checkNginx(ctx, f.Content)
		case CheckUnit:
			units = append(units, f)
		}
		if errors.Is(err, errToolMissing) && optionalTool(f.Check) {
			log.Warn("file not checked: its tool is not installed", "path", f.Path, "tool", f.Check)
			continue
		}
		if err != nil {
			errs = append(errs, &CheckError{Path: f.Path, Tool: f.Check, Err: err})
		}
	}
	if len(units) > 0 {
		if _, err := lookTool("systemd-analyze"); err != nil {
			log.Warn("unit files not checked: systemd-analyze is not installed")
		} else {
			errs = append(errs, checkUnits(ctx, units)...)
		}
	}
	return errors.Join(errs...)
}

const toolTimeout = 30 * time.Second

// runTool runs argv with LC_ALL=C and a timeout and returns the combined
// output; the error carries argv and output.
func runTool(ctx context.Context, argv ...string) ([]byte, error) {
	return toolrun.Run(ctx, toolrun.Options{Timeout: toolTimeout, Env: []string{"SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}}, argv...)
}

// lookTool finds a program; tests replace it to hide one.
var lookTool = lookToolOS

func lookToolOS(name string) (string, error) {
	p, err := toolrun.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("program %s %w (not on PATH or in the sbin directories)", name, errToolMissing)
	}
	return p, nil
}

// checkUnits runs `systemd-analyze verify` on all units together (they
// refer to each other). systemd-analyze exits 0 on some problems (an
// unknown key is "ignoring"), so any line it prints about one of our
// units is a failure of that unit.
func checkUnits(ctx context.Context, units []File) []error {
	bin, err := lookTool("systemd-analyze")
	if err != nil {
		return []error{&CheckError{Path: units[0].Path, Tool: CheckUnit, Err: err}}
	}
	dir, err := os.MkdirTemp("", "devmgr-units-")
	if err != nil {
		return []error{fmt.Errorf("checking units: %w", err)}
	}
	defer os.RemoveAll(dir)
	argv := []string{bin, "verify", "--man=no"}
	for _, u := range units {
		p := filepath.Join(dir, filepath.Base(u.Path))
		if err := os.WriteFile(p, u.Content, 0o644); err != nil {
			return []error{fmt.Errorf("checking units: %w", err)}
		}
		argv = append(argv, p)
	}
	out, runErr := runTool(ctx, argv...)
	var errs []error
	named := false
	for _, u := range units {
		base := filepath.Base(u.Path)
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, base+":") || strings.Contains(l, base+" ") {
				lines = append(lines, strings.TrimPrefix(strings.TrimSpace(l), dir+"/"))
			}
		}
		if len(lines) > 0 {
			named = true
			errs = append(errs, &CheckError{Path: u.Path, Tool: CheckUnit, Err: errors.New(strings.Join(lines, "; "))})
		}
	}
	if runErr != nil && !named {
		errs = append(errs, &CheckError{Path: units[0].Path, Tool: CheckUnit, Err: runErr})
	}
	return errs
}

var sslDirective = regexp.MustCompile(`(?m)^(\s*ssl_certificate(?:_key)?\s+)[^;]+;`)

// checkNginx runs `nginx -t` on a throwaway main config that includes the
// site. The site's certificate is replaced by a throwaway one, as the
// check is about the site's syntax and the real pair may not exist yet.
func checkNginx(ctx context.Context, site []byte) error {
	bin, err := lookTool("nginx")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "devmgr-nginx-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	certPEM, keyPEM, err := throwawayCert()
	if err != nil {
		return err
	}
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	site = sslDirective.ReplaceAllFunc(site, func(m []byte) []byte {
		sub := sslDirective.FindSubmatch(m)
		p := cert
		if bytes.Contains(sub[1], []byte("_key")) {
			p = key
		}
		return append(append([]byte{}, sub[1]...), []byte(p+";")...)
	})
	mainConf := nginxPrefixConf(dir, "events {}")
	for name, b := range map[string][]byte{"site": site, "nginx.conf": []byte(mainConf), "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	_, err = runTool(ctx, bin, "-t", "-q", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"))
	return err
}

// nginxPrefixConf is an nginx.conf that keeps everything nginx writes in
// dir and serves the site in dir/site: the real nginx checks (and the
// tests run) the rendered site without touching the system's nginx.
func nginxPrefixConf(dir, events string) string {
	return fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
%[2]s
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	include %[1]s/site;
}
`, dir, events)
}
