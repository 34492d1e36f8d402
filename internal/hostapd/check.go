package hostapd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/toolrun"
)

// CheckTimeout bounds one run of hostapd by Check.
const CheckTimeout = 10 * time.Second

// ParseError is a hostapd.conf that hostapd's own parser rejected.
type ParseError struct {
	Argv   []string
	Lines  []string // hostapd's "Line N: ..." messages
	Output string
}

func (e *ParseError) Error() string {
	msg := strings.Join(e.Lines, "; ")
	if msg == "" {
		msg = strings.TrimSpace(e.Output)
	}
	return fmt.Sprintf("hostapd rejects the config (%s): %s", strings.Join(e.Argv, " "), msg)
}

var (
	lineMsg      = regexp.MustCompile(`(?m)^Line \d+: .*$`)
	errorsFound  = regexp.MustCompile(`\d+ errors found in configuration file`)
	driverFailed = []string{
		"Failed to initialize driver",
		"nl80211: ",
		"Could not read interface",
	}
)

// Check runs hostapd's own parser on conf. hostapd has no test mode: it
// parses the whole file (including its semantic checks) before it touches
// the driver, so Check starts it in a fresh, empty network namespace where
// the driver cannot initialise, and tells "errors found in configuration
// file" apart from the expected driver failure. The copy it checks has its
// ctrl_interface moved into a temporary directory and, when the
// deny_mac_file named in conf does not exist yet, an empty one instead, so
// a check never touches a running hostapd.
//
// Check needs root, or unprivileged user namespaces.
func Check(ctx context.Context, conf []byte) error {
	return CheckWithDenyList(ctx, conf, nil)
}

// CheckWithDenyList is Check with the contents of the deny_mac_file the
// config will use (nil: the named file if it exists, else an empty list).
func CheckWithDenyList(ctx context.Context, conf, denyList []byte) error {
	bin, err := toolrun.LookPath("hostapd")
	if err != nil {
		return fmt.Errorf("checking hostapd config: %w", err)
	}
	dir, err := os.MkdirTemp("", "devmgr-hostapd-check-")
	if err != nil {
		return fmt.Errorf("checking hostapd config: %w", err)
	}
	defer os.RemoveAll(dir)

	lines := strings.SplitAfter(string(conf), "\n")
	for i, l := range lines {
		k, v, ok := strings.Cut(strings.TrimRight(l, "\n"), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		nl := ""
		if strings.HasSuffix(l, "\n") {
			nl = "\n"
		}
		switch k {
		case "ctrl_interface":
			lines[i] = "ctrl_interface=" + filepath.Join(dir, "ctrl") + nl
		case "deny_mac_file", "accept_mac_file":
			content := denyList
			if content == nil || k == "accept_mac_file" {
				if b, err := os.ReadFile(v); err == nil {
					content = b
				}
			}
			p := filepath.Join(dir, k)
			if err := os.WriteFile(p, content, 0o600); err != nil {
				return fmt.Errorf("checking hostapd config: %w", err)
			}
			lines[i] = k + "=" + p + nl
		}
	}
	path := filepath.Join(dir, "hostapd.conf")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		return fmt.Errorf("checking hostapd config: %w", err)
	}
	argv := []string{bin, path}
	out, runErr := toolrun.Run(ctx, toolrun.Options{Timeout: CheckTimeout, NewNetns: true}, argv...)
	if errorsFound.Match(out) || lineMsg.Match(out) {
		return &ParseError{Argv: argv, Lines: lineMsg.FindAllString(string(out), -1), Output: string(out)}
	}
	if runErr == nil {
		return fmt.Errorf("checking hostapd config: %s started instead of failing at the driver: %s", strings.Join(argv, " "), out)
	}
	var ee *exec.ExitError
	if errors.As(runErr, &ee) {
		for _, m := range driverFailed {
			if bytes.Contains(out, []byte(m)) {
				return nil // parsed; only the (absent) radio failed
			}
		}
	}
	return fmt.Errorf("checking hostapd config: %w", runErr)
}
