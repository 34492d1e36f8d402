package reset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/change"
)

// Files in a reset's directory (Config.Dir).
const (
	journalFile = "journal.json" // the running or last run
	keepFile    = "keep.tar.gz"  // the kept settings, until the run is done
	lockFile    = "lock"         // flock(2)ed while a process runs a reset
)

// journal is a run as its journal file records it: the run the API shows
// and what a resume needs.
type journal struct {
	api.ResetRun
	// Flags are the mount flags the overlay had before the reset (mount
	// mode): the remount keeps them. The layers come from the config.
	Flags []string `json:"flags,omitempty"`
	// WasMounted: the overlay was mounted when the run began; a failure
	// before the wipe mounts it again.
	WasMounted bool `json:"was_mounted,omitempty"`
	// WipeBegan: the mount mode's wipe began (and may have removed
	// things); a resume may make the phase pending again, this stays.
	WipeBegan bool `json:"wipe_began,omitempty"`
	// BootID is the boot the run started in (root mode): the next one
	// finishes it.
	BootID string `json:"boot_id,omitempty"`
}

// Bounds of what a journal holds, checked again when it is read back.
const (
	maxText    = 4096
	maxHolders = 64
	maxChecks  = 16
	maxUserLen = 128
)

var (
	runIDRE  = regexp.MustCompile(`^[0-9a-f]{16}$`)
	bootIDRE = regexp.MustCompile(`^[0-9a-f-]{1,64}$`)
	// phaseNames are every phase, in the order they run.
	phaseNames = []string{api.PhaseChecking, api.PhaseStopping, api.PhaseSaving, api.PhaseUnmount, api.PhaseRebooting,
		api.PhaseWiping, api.PhaseRemount, api.PhaseSettings, api.PhaseVerifying, api.PhaseStarting}
	phaseStates = []string{api.PhasePending, api.PhaseActive, api.PhaseDone, api.PhaseSkipped, api.PhaseFailed}
	runStates   = []string{api.ResetQueued, api.ResetRunning, api.ResetRebooting, api.ResetDone, api.ResetFailed}
	checkNames  = []string{checkEarlyBoot, checkMounted, checkUpper, checkWork, checkTree, checkSettings, checkServices}
)

// readJournal reads dir's journal; ok is false when there is none. A
// journal that fails validation is change.ErrInvalid: the caller sets it
// aside.
func readJournal(dir string) (journal, bool, error) {
	var j journal
	ok, err := change.ReadJSON(filepath.Join(dir, journalFile), &j)
	if err != nil || !ok {
		return journal{}, ok, err
	}
	if err := j.validate(); err != nil {
		return journal{}, true, change.Invalidf("%s: %v", filepath.Join(dir, journalFile), err)
	}
	return j, true, nil
}

// validate checks a journal as the reset writes them: a resume acts on
// it as root.
func (j journal) validate() error {
	r := j.ResetRun
	switch {
	case !runIDRE.MatchString(r.ID):
		return fmt.Errorf("run ID %q is not 16 hex digits", change.Clip(r.ID))
	case r.Mode != "mount" && r.Mode != "root":
		return fmt.Errorf("mode %q is neither mount nor root", change.Clip(r.Mode))
	case !slices.Contains(runStates, r.Status):
		return fmt.Errorf("status %q is not a run's", change.Clip(r.Status))
	case !slices.Contains(phaseNames, r.Phase):
		return fmt.Errorf("phase %q is not a reset's", change.Clip(r.Phase))
	case r.Percent < 0 || r.Percent > 100:
		return fmt.Errorf("percent %d is outside 0..100", r.Percent)
	case r.StartedAt.IsZero():
		return errors.New("no start time")
	case len(r.Phases) == 0 || len(r.Phases) > len(phaseNames):
		return fmt.Errorf("%d phases", len(r.Phases))
	case len(r.Events) > api.MaxResetEvents:
		return fmt.Errorf("%d events, more than %d", len(r.Events), api.MaxResetEvents)
	case len(r.Holders) > maxHolders:
		return fmt.Errorf("%d holders, more than %d", len(r.Holders), maxHolders)
	case j.BootID != "" && !bootIDRE.MatchString(j.BootID):
		return fmt.Errorf("boot ID %q is not one", change.Clip(j.BootID))
	}
	for _, s := range []struct{ what, v string }{{"user", r.User}, {"error", r.Error}, {"hint", r.Hint}} {
		if err := checkText(s.v, maxText); err != nil {
			return fmt.Errorf("%s: %v", s.what, err)
		}
	}
	if len(r.User) > maxUserLen {
		return fmt.Errorf("user is longer than %d bytes", maxUserLen)
	}
	seen := map[string]bool{}
	for _, p := range r.Phases {
		if !slices.Contains(phaseNames, p.Name) || seen[p.Name] || !slices.Contains(phaseStates, p.State) {
			return fmt.Errorf("phase %q in state %q", change.Clip(p.Name), change.Clip(p.State))
		}
		seen[p.Name] = true
		if err := checkText(p.Detail, maxText); err != nil {
			return fmt.Errorf("phase %s: %v", p.Name, err)
		}
	}
	for i, e := range r.Events {
		if e.Seq < 1 || i > 0 && e.Seq != r.Events[i-1].Seq+1 {
			return fmt.Errorf("event %d has sequence number %d", i, e.Seq)
		}
		if !slices.Contains(phaseNames, e.Phase) || !slices.Contains(phaseStates, e.State) || e.Percent < 0 || e.Percent > 100 {
			return fmt.Errorf("event %d: phase %q in state %q", e.Seq, change.Clip(e.Phase), change.Clip(e.State))
		}
		if err := checkText(e.Message, maxText); err != nil {
			return fmt.Errorf("event %d: %v", e.Seq, err)
		}
	}
	for _, h := range r.Holders {
		if h.PID <= 0 || len(h.Uses) > maxUses+1 {
			return fmt.Errorf("holder pid %d with %d uses", h.PID, len(h.Uses))
		}
		for _, s := range append([]string{h.Command}, h.Uses...) {
			if err := checkText(s, maxText); err != nil {
				return fmt.Errorf("holder %d: %v", h.PID, err)
			}
		}
	}
	if v := r.Verification; v != nil {
		if len(v.Checks) > maxChecks {
			return fmt.Errorf("%d checks", len(v.Checks))
		}
		for _, c := range v.Checks {
			if !slices.Contains(checkNames, c.Name) {
				return fmt.Errorf("check %q is not a verification's", change.Clip(c.Name))
			}
			if err := checkText(c.Detail, maxText); err != nil {
				return fmt.Errorf("check %s: %v", c.Name, err)
			}
		}
	}
	for _, f := range j.Flags {
		if _, ok := mountFlags[f]; !ok {
			return fmt.Errorf("mount flag %q is not one the reset keeps", change.Clip(f))
		}
	}
	return nil
}

// checkText accepts printable UTF-8 of at most max bytes.
func checkText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("longer than %d bytes", max)
	}
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }); i >= 0 {
		return fmt.Errorf("a control character at byte %d", i)
	}
	return nil
}

// text makes s fit checkText: control characters become '?', and it is
// clipped. What a run records comes partly from outside (file names,
// process names, tools' errors).
func text(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
	if len(s) > maxText {
		s = strings.ToValidUTF8(s[:maxText-3], "") + "..."
	}
	return s
}

// lockDir takes dir's lock, which a process holds while it runs a reset;
// another holder is ErrRunning. The lock goes with the process.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("taking the reset's lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: another process runs it", ErrRunning)
		}
		return nil, fmt.Errorf("taking the reset's lock: %w", err)
	}
	return f, nil
}

// phase returns the record of the phase name, nil when the run has none.
func (j *journal) phase(name string) *api.ResetPhase {
	for i := range j.Phases {
		if j.Phases[i].Name == name {
			return &j.Phases[i]
		}
	}
	return nil
}

// percent is the share of the run's phases that are done or skipped.
func (j *journal) percent() int {
	n := 0
	for _, p := range j.Phases {
		if p.State == api.PhaseDone || p.State == api.PhaseSkipped {
			n++
		}
	}
	return n * 100 / len(j.Phases)
}

// copyRun is a deep copy of the run, for a reader outside the lock.
func (j *journal) copyRun() api.ResetRun {
	r := j.ResetRun
	r.Phases = slices.Clone(r.Phases)
	r.Events = slices.Clone(r.Events)
	r.Holders = slices.Clone(r.Holders)
	if v := r.Verification; v != nil {
		c := *v
		c.Checks = slices.Clone(v.Checks)
		r.Verification = &c
	}
	if r.FinishedAt != nil {
		t := *r.FinishedAt
		r.FinishedAt = &t
	}
	return r
}

func timePtr(t time.Time) *time.Time { return &t }
