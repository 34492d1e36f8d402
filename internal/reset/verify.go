package reset

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/config"
)

// The checks of a verification.
const (
	checkEarlyBoot = "early_boot" // root: the early-boot step emptied the upper layer before the mount
	checkMounted   = "mounted"    // the overlay is mounted with the expected layers, options and flags
	checkUpper     = "upper"      // the upper layer is empty, or holds only the kept settings
	checkWork      = "work"       // the work directory holds nothing but overlayfs's own empty directories
	checkTree      = "tree"       // the merged tree equals the lower one, by content
	checkSettings  = "settings"   // the kept settings are back, or devmgr's own state is cleared
	checkServices  = "services"   // the services run again (added when they are started)
)

// verify checks the overlay once it is back.
func (r *Resetter) verify(ctx context.Context, j *journal) *api.ResetVerification {
	v := &api.ResetVerification{At: r.cfg.Now().UTC()}
	add := func(name string, ok bool, format string, args ...any) {
		v.Checks = append(v.Checks, api.ResetCheck{Name: name, OK: ok, Detail: text(fmt.Sprintf(format, args...))})
	}
	rc := r.cfg.Reset
	if j.Mode == config.ResetRoot {
		w := j.phase(api.PhaseWiping)
		add(checkEarlyBoot, w.State == api.PhaseDone, "%s", w.Detail)
	}
	ok, detail := r.checkMount(j)
	add(checkMounted, ok, "%s", detail)
	var kept keptSet
	if j.KeepSettings {
		kept = keptWithin(r.cfg.Settings.Paths(), rc.Merged)
	}
	if j.Mode == config.ResetMount {
		switch odd, n, err := unexpected(ctx, rc.Upper, kept); {
		case err != nil:
			add(checkUpper, false, "%v", err)
		case n > 0:
			add(checkUpper, false, "%s holds %d entries besides the kept settings: %s", rc.Upper, n, strings.Join(odd, ", "))
		case len(kept) > 0:
			add(checkUpper, true, "%s holds nothing but the kept settings", rc.Upper)
		default:
			add(checkUpper, true, "%s is empty", rc.Upper)
		}
		ok, detail := workClean(rc.Work)
		add(checkWork, ok, "%s", detail)
		switch diffs, n, err := compareTrees(ctx, rc.Lower, rc.Merged, kept); {
		case err != nil:
			add(checkTree, false, "%v", err)
		case n > 0:
			add(checkTree, false, "%s differs from %s in %d entries: %s", rc.Merged, rc.Lower, n, strings.Join(diffs, "; "))
		default:
			what := "compared by content (SHA-256), owner and mode"
			if len(kept) > 0 {
				what += ", the kept settings aside"
			}
			add(checkTree, true, "%s equals %s: %s", rc.Merged, rc.Lower, what)
		}
	}
	s := j.phase(api.PhaseSettings)
	add(checkSettings, s.State == api.PhaseDone, "%s", s.Detail)
	v.OK = !slices.ContainsFunc(v.Checks, func(c api.ResetCheck) bool { return !c.OK })
	return v
}

// checkMount checks that the overlay is mounted with the configured
// layers and options and, in the mount mode, the flags it had.
func (r *Resetter) checkMount(j *journal) (bool, string) {
	rc := r.cfg.Reset
	ov, err := r.findOverlay()
	switch {
	case err != nil:
		return false, err.Error()
	case !ov.mounted:
		return false, rc.Merged + " is not mounted"
	}
	// The kernel lists an option only where it differs from its default:
	// one it does not list has the default value, which the config may
	// name too (index=off).
	var missing []string
	for _, o := range rc.Options {
		name, want, _ := strings.Cut(o, "=")
		if got, ok := ov.mount.Option(name); ok && got != want {
			missing = append(missing, o)
		}
	}
	for _, f := range j.Flags {
		if j.Mode == config.ResetMount && !slices.Contains(ov.mount.Options, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return false, fmt.Sprintf("the overlay at %s is not mounted with %s (it has %s; %s)", rc.Merged, strings.Join(missing, ", "),
			strings.Join(ov.mount.Options, ","), strings.Join(ov.mount.Super, ","))
	}
	return true, fmt.Sprintf("overlay at %s: lowerdir %s, upperdir %s, workdir %s; %s", rc.Merged, rc.Lower, rc.Upper, rc.Work,
		strings.Join(ov.mount.Options, ","))
}

// workClean checks that a mounted overlay's work directory holds nothing
// but the empty directories overlayfs makes there (work, index).
func workClean(dir string) (bool, string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, err.Error()
	}
	for _, e := range ents {
		if !e.IsDir() || e.Name() != "work" && e.Name() != "index" {
			return false, fmt.Sprintf("%s holds %s", dir, e.Name())
		}
		if empty, err := isEmptyDir(filepath.Join(dir, e.Name())); err != nil || !empty {
			return false, fmt.Sprintf("%s/%s is not empty", dir, e.Name())
		}
	}
	return true, dir + " holds nothing but overlayfs's own empty directories"
}
