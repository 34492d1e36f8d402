package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/devmgr/devmgr/internal/config"
)

// PutBackOptions configure PutBack.
type PutBackOptions struct {
	// Sources are the device: ConfigPath (the file the kept config goes
	// back to), Console (its Import), TempDir, Limits and Log.
	Sources
	// Agent writes the agent's settings. The reset has stopped the agent,
	// so OfflineAgent's Restore fits; Ready is not asked.
	Agent Agent
}

// PutBack puts back the settings in an archive that a factory reset made
// of this device just before it wiped it (internal/reset): the steps of
// a restore (the config file as it was, byte for byte; the console's
// accounts and TLS pair; the agent's settings) without its plan,
// interface mapping or pre-restore backup, since the archive is the
// device's own. The archive is still read and checked as any other (Read,
// Verify): it comes back from a directory beside the wiped layer. It says
// what it put back.
func PutBack(ctx context.Context, r io.Reader, o PutBackOptions) (string, error) {
	if o.Console == nil || o.ConfigPath == "" || o.Agent == nil {
		return "", errors.New("backup.PutBack: Console, ConfigPath and Agent are required")
	}
	c, err := Read(r, ReadOptions{Limits: o.Limits, TempDir: o.TempDir})
	if err != nil {
		return "", fmt.Errorf("reading the kept settings: %w", err)
	}
	defer c.Close()
	next, err := Verify(ctx, c, o.log())
	if err != nil {
		return "", fmt.Errorf("checking the kept settings: %w", err)
	}
	var done []string
	fail := func(step string, err error) (string, error) {
		d := "nothing"
		if len(done) > 0 {
			d = strings.Join(done, ", ")
		}
		return "", fmt.Errorf("putting back %s: %w (put back before it: %s)", step, err, d)
	}
	if cur, err := os.ReadFile(o.ConfigPath); err != nil || !bytes.Equal(cur, c.Config) {
		if err := config.WriteFileKeeping(o.ConfigPath, c.Config); err != nil {
			return fail("the config", err)
		}
		done = append(done, "the config")
	}
	withTLS := generatedTLS(next.Config)
	if err := c.importConsole(ctx, o.Console, withTLS); err != nil {
		return fail("the console's accounts", err)
	}
	done = append(done, fmt.Sprintf("%s and %s", count(len(next.Users), "user"), count(len(next.Tokens), "token")))
	if withTLS && c.TLSCert != nil {
		done = append(done, "the TLS certificate")
	}
	if _, err := o.Agent.Restore(ctx, next.Config, next.Agent); err != nil {
		return fail("the agent's settings", err)
	}
	done = append(done, fmt.Sprintf("the access point's settings and deny list (%s), %s",
		count(len(next.Agent.AP.Deny), "station"), count(len(next.Agent.LAN), "LAN config")))
	return strings.Join(done, ", "), nil
}

// importConsole hands c's console members to console's Import: the
// database, and the TLS pair withTLS.
func (c *Contents) importConsole(ctx context.Context, console Console, withTLS bool) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(c.writeConsole(pw, withTLS)) }()
	err := console.Import(ctx, pr)
	pr.CloseWithError(errors.New("the console's part ended"))
	return err
}

// count says n nouns, in the singular for one.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
