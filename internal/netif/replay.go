package netif

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The journal directory is the agent's own (agent.state_dir). Still,
// everything read back from it passes the API's checks again before it
// is applied: the interface is a LAN interface, never the AP's; configs
// pass Validate; a saved link state holds only well-formed addresses and
// routes. A file that fails is set aside (NAME.rejected-TIME), reported
// through Config.OnRejected and never applied.

// errInvalid marks a journal file that failed validation.
var errInvalid = errors.New("failed validation")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvalid, fmt.Sprintf(format, args...))
}

// maxJournal bounds what is read back of a journal file.
const maxJournal = 1 << 20

// readJSONFile strictly decodes p into v (no symlink followed, unknown
// fields refused) and reports whether it existed.
func readJSONFile(p string, v any) (bool, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJournal+1))
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", p, err)
	}
	if len(b) > maxJournal {
		return true, invalidf("%s is larger than %d bytes", p, maxJournal)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return true, invalidf("parsing %s: %v", p, err)
	}
	return true, nil
}

// replayName checks that a journaled interface may be changed at all.
func (c *Changer) replayName(name string) error {
	if name == c.cfg.AppConfig.AP.Interface {
		return invalidf("interface %q is the access point's", clip(name))
	}
	// The interface may be missing now (a USB adapter unplugged): only the
	// LAN rule counts here.
	if err := validateName(c.cfg.AppConfig, name, []Interface{{Name: name}}); err != nil {
		return invalidf("%v", err)
	}
	return nil
}

// replayConfig checks a journaled LinkConfig as the API would.
func (c *Changer) replayConfig(name string, lc *LinkConfig) error {
	if lc == nil {
		return nil
	}
	if lc.Mode == "" && len(lc.Addresses) == 0 && lc.Gateway == "" && len(lc.DNS) == 0 && lc.MTU == 0 {
		return nil // only up/down recorded
	}
	if err := Validate(c.cfg.AppConfig, name, *lc, []Interface{{Name: name}}); err != nil {
		return invalidf("config of %s: %v", name, err)
	}
	return nil
}

func validChange(ch Change) error {
	if len(ch.ID) != 16 || strings.Trim(ch.ID, "0123456789abcdef") != "" {
		return invalidf("change ID %q is not 16 hex digits", clip(ch.ID))
	}
	switch ch.Status {
	case StatusPending, StatusConfirmed, StatusRolledBack:
	default:
		return invalidf("change %s: status %q is unknown", ch.ID, clip(ch.Status))
	}
	if len(ch.Interface) > 15 || len(ch.Error) > 4096 {
		return invalidf("change %s: interface or error text too long", ch.ID)
	}
	return nil
}

// validJournal checks a pending change read back from disk.
func (c *Changer) validJournal(j *journal) error {
	if err := validChange(j.Change); err != nil {
		return err
	}
	if j.Change.Status != StatusPending {
		return invalidf("change %s is %s, not pending", j.Change.ID, j.Change.Status)
	}
	name := j.Change.Interface
	if err := c.replayName(name); err != nil {
		return err
	}
	if j.Prev.Name != name {
		return invalidf("saved state names interface %q, the change %q", clip(j.Prev.Name), name)
	}
	if err := validState(j.Prev); err != nil {
		return err
	}
	if err := c.replayConfig(name, j.PrevConfig); err != nil {
		return err
	}
	return c.replayConfig(name, j.NewConfig)
}

// validState checks a saved link state: the values Apply would hand to
// the kernel are well formed and of the kinds Snapshot records.
func validState(st State) error {
	if st.MTU != 0 && (st.MTU < 68 || st.MTU > 65535) {
		return invalidf("saved MTU %d is outside 68..65535", st.MTU)
	}
	if len(st.Addresses) > 64 || len(st.Routes) > 256 {
		return invalidf("saved state of %s has %d addresses and %d routes", st.Name, len(st.Addresses), len(st.Routes))
	}
	for _, a := range st.Addresses {
		p, err := netip.ParsePrefix(a.CIDR)
		if err != nil || p.Addr().Zone() != "" {
			return invalidf("saved address %q is not an address with prefix length", clip(a.CIDR))
		}
		if a.Peer != "" {
			if _, err := netip.ParsePrefix(a.Peer); err != nil {
				return invalidf("saved peer %q is not an address with prefix length", clip(a.Peer))
			}
		}
		if len(a.Label) > 15 || a.Scope < 0 || a.Scope > 255 || a.Flags&^stableAddrFlags != 0 {
			return invalidf("saved address %s has a label, scope or flags Snapshot never records", a.CIDR)
		}
	}
	for _, r := range st.Routes {
		if _, err := netip.ParsePrefix(r.Dst); err != nil {
			return invalidf("saved route destination %q is not a prefix", clip(r.Dst))
		}
		for _, a := range []string{r.Gateway, r.Src} {
			if _, err := netip.ParseAddr(a); a != "" && err != nil {
				return invalidf("saved route address %q is not an IP address", clip(a))
			}
		}
		if r.Priority < 0 || r.Scope < 0 || r.Scope > 255 || r.Protocol < 0 || r.Protocol > 255 ||
			(r.Type != 0 && r.Type != unix.RTN_UNICAST) {
			return invalidf("saved route to %s has a priority, scope, protocol or type Snapshot never records", r.Dst)
		}
	}
	return nil
}

// validDesired checks the confirmed configs read back from disk.
func (c *Changer) validDesired(d map[string]LinkConfig) error {
	for name, lc := range d {
		if err := c.replayName(name); err != nil {
			return err
		}
		if err := c.replayConfig(name, &lc); err != nil {
			return err
		}
	}
	return nil
}

func validChanges(list []Change) error {
	if len(list) > 1000 {
		return invalidf("%d changes listed, at most 100 kept", len(list))
	}
	for _, ch := range list {
		if err := validChange(ch); err != nil {
			return err
		}
	}
	return nil
}

// reject sets a journal file aside and reports it.
func (c *Changer) reject(name string, why error) {
	aside := fmt.Sprintf("%s.rejected-%d", c.path(name), c.cfg.Now().Unix())
	if err := os.Rename(c.path(name), aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Error("setting aside a journal that failed validation", "file", c.path(name), "err", err)
	}
	c.log.Error("journal failed validation; set aside, not applied", "file", c.path(name), "moved_to", aside, "reason", why)
	if c.cfg.OnRejected != nil {
		c.cfg.OnRejected("network/"+name, why.Error())
	}
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
