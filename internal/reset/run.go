package reset

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/renameio/v2"
	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/mountinfo"
	"github.com/devmgr/devmgr/internal/service"
)

// Steps of execute besides the phases: recover puts the device back as
// it was after an interruption before the wipe; earlyBoot records the
// root mode's wipe from what the early-boot step left.
const (
	stepRecover   = "recover"
	stepEarlyBoot = "early_boot"
)

// phaseError is a phase that failed: what to tell, what to do.
type phaseError struct {
	err     error
	hint    string
	holders []api.ResetHolder
}

func (e *phaseError) Error() string { return e.err.Error() }

// skipped is a phase with nothing to do.
type skipped struct{ why string }

func (s skipped) Error() string { return s.why }

// note records an event under r.mu.
func (r *Resetter) note(j *journal, phase, state, msg string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.record(j, phase, state, msg)
}

// update changes j under r.mu.
func (r *Resetter) update(j *journal, f func(*journal)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(j)
}

// execute runs steps (nil: the mode's phases after checking) and ends
// the run; it owns the lock lk, and lets it go with the run.
func (r *Resetter) execute(lk *os.File, j *journal, steps []string) {
	ctx := context.Background()
	defer func() {
		lk.Close() // first: a waiter may start the next run at once
		r.mu.Lock()
		r.active = false
		close(r.done)
		r.mu.Unlock()
	}()
	if steps == nil {
		steps = phasesOf(j.Mode)[1:]
	}
	var verifyFailed bool
	for _, step := range steps {
		switch step {
		case stepRecover:
			r.recover(ctx, j)
			return
		case stepEarlyBoot:
			if err := r.earlyBoot(j); err != nil {
				r.finish(j, api.PhaseWiping, err)
				return
			}
			continue
		case api.PhaseRebooting:
			r.reboot(ctx, j)
			return
		}
		if step == api.PhaseWiping {
			// Journaled before anything goes: from here on, a run that
			// stops is carried on, never put back.
			r.update(j, func(j *journal) { j.WipeBegan = true })
		}
		if err := r.note(j, step, api.PhaseActive, phaseTitle(step)); err != nil {
			r.finish(j, step, err)
			return
		}
		detail, err := r.runPhase(ctx, j, step)
		var sk skipped
		switch {
		case errors.As(err, &sk):
			err = r.note(j, step, api.PhaseSkipped, sk.why)
		case err != nil && step == api.PhaseVerifying:
			verifyFailed = true
			err = r.note(j, step, api.PhaseFailed, detail)
		case err != nil:
			r.finish(j, step, err)
			return
		default:
			err = r.note(j, step, api.PhaseDone, detail)
		}
		if err != nil {
			r.finish(j, step, err)
			return
		}
		if r.cfg.Interrupt != nil && r.cfg.Interrupt(step) {
			return
		}
	}
	if verifyFailed {
		r.finish(j, api.PhaseVerifying, &phaseError{err: errors.New(failedChecks(j.Verification)),
			hint: "the overlay did not come back as the factory layer: see the checks; devmgr reset again once their cause is fixed"})
		return
	}
	r.finish(j, "", nil)
}

// runPhase runs one phase of j.
func (r *Resetter) runPhase(ctx context.Context, j *journal, phase string) (string, error) {
	switch phase {
	case api.PhaseStopping:
		return r.stopServices(ctx)
	case api.PhaseSaving:
		return r.saveSettings(ctx, j)
	case api.PhaseUnmount:
		return r.unmount(j)
	case api.PhaseWiping:
		return r.wipe()
	case api.PhaseRemount:
		return r.remount(j)
	case api.PhaseSettings:
		return r.settings(ctx, j)
	case api.PhaseVerifying:
		v := r.verify(ctx, j)
		r.update(j, func(j *journal) { j.Verification = v })
		if !v.OK {
			return failedChecks(v), errors.New("verification failed")
		}
		return fmt.Sprintf("%d checks passed", len(v.Checks)), nil
	case api.PhaseStarting:
		return r.startServices(ctx, j)
	}
	return "", fmt.Errorf("no phase %s", phase)
}

// finish ends the run: done when err is nil, else failed in phase. A
// failure before the wipe puts the device back as it was (the overlay
// mounted, the services started); after it, the run waits for Resume.
func (r *Resetter) finish(j *journal, phase string, err error) {
	ctx := context.Background()
	var msg, hint string
	var holders []api.ResetHolder
	if err != nil {
		msg = err.Error()
		var pe *phaseError
		if errors.As(err, &pe) {
			hint, holders = pe.hint, pe.holders
		}
		if beforeWipe(j, phase) && j.Mode == config.ResetMount {
			if back := r.putBack(ctx, j); back != "" {
				msg += "; " + back
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now().UTC()
	j.FinishedAt = &now
	if err == nil {
		j.Status, j.Error, j.Hint = api.ResetDone, "", ""
		_ = r.record(j, j.Phase, j.phase(j.Phase).State, "the reset is done")
		if rmErr := os.Remove(filepath.Join(r.cfg.Dir, keepFile)); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			r.log.Warn("removing the kept settings", "err", rmErr)
		}
		return
	}
	j.Status, j.Error, j.Hint, j.Holders = api.ResetFailed, text(phaseTitle(phase)+": "+msg), text(hint), holders
	_ = r.record(j, phase, api.PhaseFailed, j.Error)
}

// beforeWipe reports whether a failure in phase leaves the layers as they
// were: the wipe never began.
func beforeWipe(j *journal, phase string) bool {
	return !afterWipe(j) && phase != api.PhaseWiping
}

// putBack puts the device back as it was before the run: the overlay
// mounted (if it was), the services started. It says what it did, or
// what failed.
func (r *Resetter) putBack(ctx context.Context, j *journal) string {
	var out []string
	out = append(out, "nothing was wiped")
	if j.Mode == config.ResetMount && j.WasMounted {
		ov, err := r.findOverlay()
		switch {
		case err != nil:
			out = append(out, "the overlay: "+err.Error())
		case !ov.mounted:
			if err := r.mountOverlay(j.Flags); err != nil {
				out = append(out, err.Error())
			} else {
				out = append(out, "the overlay is mounted again")
			}
		}
	}
	var failed []string
	for _, name := range r.cfg.ServiceNames {
		if err := r.cfg.Services.Start(ctx, name); err != nil {
			failed = append(failed, err.Error())
		}
	}
	switch {
	case len(failed) > 0:
		out = append(out, "starting the services again: "+strings.Join(failed, "; "))
	case len(r.cfg.ServiceNames) > 0:
		out = append(out, "the services are started again")
	}
	return strings.Join(out, "; ")
}

// recover ends a run interrupted before its wipe: the device is put back
// as it was and the run recorded as failed.
func (r *Resetter) recover(ctx context.Context, j *journal) {
	r.log.Warn("reset interrupted before the wipe; putting the device back", "id", j.ID, "phase", j.Phase)
	msg := fmt.Sprintf("interrupted in phase %s, before anything was wiped", j.Phase)
	if j.Mode == config.ResetRoot {
		if err := r.withdrawRequest(); err != nil {
			msg += "; " + err.Error()
		}
		msg += "; nothing was wiped"
	} else {
		msg += "; " + r.putBack(ctx, j)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now().UTC()
	j.FinishedAt = &now
	j.Status, j.Error, j.Hint = api.ResetFailed, text(msg), "start the reset again"
	state := api.PhaseFailed
	if p := j.phase(j.Phase); p != nil && (p.State == api.PhaseDone || p.State == api.PhaseSkipped) {
		state = p.State
	}
	_ = r.record(j, j.Phase, state, msg)
	_ = os.Remove(filepath.Join(r.cfg.Dir, keepFile))
}

// stopServices stops ServiceNames, the console first.
func (r *Resetter) stopServices(ctx context.Context) (string, error) {
	names := slices.Clone(r.cfg.ServiceNames)
	if len(names) == 0 {
		return "", skipped{cmp.Or(r.cfg.NoServices, "no services to stop")}
	}
	slices.Reverse(names)
	for _, n := range names {
		if err := r.cfg.Services.Stop(ctx, n); err != nil {
			return "", err
		}
	}
	return "stopped " + strings.Join(names, ", "), nil
}

// saveSettings writes the kept settings into Dir (0600, atomically).
func (r *Resetter) saveSettings(ctx context.Context, j *journal) (string, error) {
	if !j.KeepSettings {
		return "", skipped{"the settings are not kept: devmgr returns to its first start"}
	}
	p := filepath.Join(r.cfg.Dir, keepFile)
	pf, err := renameio.NewPendingFile(p, renameio.WithPermissions(0o600), renameio.WithStaticPermissions(0o600))
	if err != nil {
		return "", fmt.Errorf("keeping the settings in %s: %w", p, err)
	}
	defer pf.Cleanup()
	if err := r.cfg.Settings.Save(ctx, pf); err != nil {
		return "", err
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return "", fmt.Errorf("keeping the settings in %s: %w", p, err)
	}
	st, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("kept in %s (%d bytes)", p, st.Size()), nil
}

// unmount unmounts the overlay; never lazily (MNT_DETACH would let the
// wipe change the layers of an overlay still in use).
func (r *Resetter) unmount(j *journal) (string, error) {
	rc := r.cfg.Reset
	ov, err := r.findOverlay()
	if err != nil {
		return "", err
	}
	if !ov.mounted {
		return "not mounted", nil
	}
	r.update(j, func(j *journal) { j.Flags, j.WasMounted = keptFlags(ov.mount), true })
	if err := r.submounts(); err != nil {
		return "", err
	}
	err = unix.Unmount(rc.Merged, 0)
	if errors.Is(err, unix.EBUSY) {
		hs, herr := Holders(r.cfg.Proc, rc.Merged)
		if herr != nil || len(hs) == 0 {
			return "", &phaseError{err: fmt.Errorf("%s is busy, and no process was found holding it", rc.Merged),
				hint: "find what uses it (fuser -vm " + rc.Merged + ") and stop it, then reset again"}
		}
		return "", &phaseError{err: fmt.Errorf("%s is busy: held by %s", rc.Merged, holdersText(hs)), holders: hs,
			hint: "stop these processes (or the services they belong to, which reset.services may list), then reset again"}
	}
	if err != nil {
		return "", fmt.Errorf("unmounting %s: %w", rc.Merged, err)
	}
	return "unmounted " + rc.Merged, nil
}

// submounts refuses when something is mounted inside the overlay.
func (r *Resetter) submounts() error {
	ms, err := mountinfo.Read(r.mountInfo())
	if err != nil {
		return err
	}
	if below := mountinfo.Below(ms, r.cfg.Reset.Merged); len(below) > 0 {
		var names []string
		for _, m := range below {
			names = append(names, m.Point+" ("+m.FSType+")")
		}
		return &phaseError{err: fmt.Errorf("mounted inside %s: %s", r.cfg.Reset.Merged, strings.Join(names, ", ")),
			hint: "unmount them first, then reset again"}
	}
	return nil
}

// wipe empties the upper and work directories, once nothing has them
// mounted.
func (r *Resetter) wipe() (string, error) {
	rc := r.cfg.Reset
	use, err := r.layerInUse()
	if err != nil {
		return "", err
	}
	if use != "" {
		return "", &phaseError{err: fmt.Errorf("not wiped: %s", use), hint: "a layer is wiped only while no overlay uses it"}
	}
	nu, err := emptyDir(rc.Upper)
	if err != nil {
		return "", &phaseError{err: err, hint: "devmgr reset --resume finishes the reset (devmgr-reset.service runs it at boot)"}
	}
	nw, err := emptyDir(rc.Work)
	if err != nil {
		return "", &phaseError{err: err, hint: "devmgr reset --resume finishes the reset (devmgr-reset.service runs it at boot)"}
	}
	unix.Sync()
	return fmt.Sprintf("removed %d entries from %s and %d from %s", nu, rc.Upper, nw, rc.Work), nil
}

// remount mounts the overlay again with the layers and options of the
// config and the flags it had.
func (r *Resetter) remount(j *journal) (string, error) {
	ov, err := r.findOverlay()
	if err != nil {
		return "", err
	}
	if ov.mounted {
		return "already mounted", nil
	}
	if err := r.mountOverlay(j.Flags); err != nil {
		return "", &phaseError{err: err, hint: "the layers are empty but the overlay is not mounted: devmgr reset --resume tries again"}
	}
	return "mounted " + r.cfg.Reset.Merged + " (" + r.cfg.Reset.MountOptions() + ")", nil
}

// settings restores the kept settings, or clears devmgr's own.
func (r *Resetter) settings(ctx context.Context, j *journal) (string, error) {
	hint := "devmgr reset --resume tries again"
	if !j.KeepSettings {
		s, err := r.cfg.Settings.Clear(ctx)
		if err != nil {
			return "", &phaseError{err: err, hint: hint}
		}
		return "cleared: " + s, nil
	}
	p := filepath.Join(r.cfg.Dir, keepFile)
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return "", &phaseError{err: fmt.Errorf("reading the kept settings: %w", err), hint: hint}
	}
	defer f.Close()
	s, err := r.cfg.Settings.Restore(ctx, f)
	if err != nil {
		return "", &phaseError{err: err, hint: hint + "; the kept settings are in " + p + " (devmgr backup restore takes it)"}
	}
	return "put back: " + s, nil
}

// startServices starts ServiceNames in order and waits until each runs;
// the verification gets their check.
func (r *Resetter) startServices(ctx context.Context, j *journal) (string, error) {
	if len(r.cfg.ServiceNames) == 0 {
		return "", skipped{cmp.Or(r.cfg.NoServices, "no services to start")}
	}
	var problems []string
	for _, n := range r.cfg.ServiceNames {
		if err := r.cfg.Services.Start(ctx, n); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) == 0 {
		problems = r.waitRunning(ctx)
	}
	c := api.ResetCheck{Name: checkServices, OK: len(problems) == 0, Detail: strings.Join(r.cfg.ServiceNames, ", ") + " running"}
	if !c.OK {
		c.Detail = text(strings.Join(problems, "; "))
	}
	r.update(j, func(j *journal) {
		if j.Verification == nil {
			j.Verification = &api.ResetVerification{OK: true, At: r.cfg.Now().UTC()}
		}
		j.Verification.Checks = append(j.Verification.Checks, c)
		j.Verification.OK = j.Verification.OK && c.OK
	})
	if !c.OK {
		return "", &phaseError{err: errors.New(c.Detail), hint: "see systemctl status and journalctl -u for each"}
	}
	return "started " + strings.Join(r.cfg.ServiceNames, ", "), nil
}

// waitRunning waits up to ServiceWait for every service to run and lists
// those that do not.
func (r *Resetter) waitRunning(ctx context.Context) []string {
	deadline := time.Now().Add(r.cfg.ServiceWait)
	for {
		var problems []string
		for _, n := range r.cfg.ServiceNames {
			st, err := r.cfg.Services.Status(ctx, n)
			switch {
			case err != nil:
				problems = append(problems, err.Error())
			case !st.Running():
				p := fmt.Sprintf("%s is %s", n, st.State)
				if st.LastExit != "" {
					p += " (last exit: " + st.LastExit + ")"
				}
				problems = append(problems, p)
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			return problems
		}
		select {
		case <-ctx.Done():
			return append(problems, ctx.Err().Error())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// check is the checking phase: everything that can be known before
// anything is touched. It returns the overlay as it is.
func (r *Resetter) check(ctx context.Context, req Request) (overlay, error) {
	refuse := func(format string, args ...any) (overlay, error) {
		return overlay{}, fmt.Errorf("%w: "+format, append([]any{ErrRefused}, args...)...)
	}
	rc := r.cfg.Reset
	if req.KeepSettings && r.cfg.Settings == nil {
		return refuse("no way to keep the settings here")
	}
	if r.cfg.ChangesDir != "" {
		pending, err := change.JournalPending(r.cfg.ChangesDir)
		if err != nil {
			return refuse("%v", err)
		}
		if pending {
			return refuse("a network or access point change waits for its confirmation: confirm it or let it roll back first")
		}
	}
	for _, n := range r.cfg.ServiceNames {
		if _, err := r.cfg.Services.Status(ctx, n); err != nil {
			var unknown *service.ErrUnknown
			if errors.As(err, &unknown) {
				return refuse("%s is not a service on this device (reset.services)", n)
			}
			return refuse("reading the state of %s: %v", n, err)
		}
	}
	ov, err := r.findOverlay()
	if err != nil {
		return refuse("%v", err)
	}
	if rc.Mode == config.ResetRoot {
		return ov, r.checkRoot(ov)
	}
	for _, d := range []struct{ key, path string }{{"reset.lower", rc.Lower}, {"reset.upper", rc.Upper}, {"reset.work", rc.Work}, {"reset.merged", rc.Merged}} {
		fi, err := os.Lstat(d.path)
		if err != nil || !fi.IsDir() {
			return refuse("%s %s is not a directory", d.key, d.path)
		}
	}
	if !sameFS(rc.Upper, rc.Work) {
		return refuse("reset.upper %s and reset.work %s are not on one filesystem, as overlayfs needs", rc.Upper, rc.Work)
	}
	if err := r.submounts(); err != nil {
		return refuse("%v", err)
	}
	return ov, nil
}

// checkRoot is the root mode's part of the checks.
func (r *Resetter) checkRoot(ov overlay) error {
	rc := r.cfg.Reset
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrRefused}, args...)...)
	}
	if !ov.mounted {
		return refuse("%s is not an overlay with upperdir %s: is overlayroot (or its equivalent) on, with its upper layer on reset.device?", rc.Merged, rc.Upper)
	}
	ms, err := mountinfo.Read(r.mountInfo())
	if err != nil {
		return refuse("%v", err)
	}
	m, ok := mountinfo.Top(ms, rc.Persist)
	switch {
	case !ok:
		return refuse("reset.persist %s is not mounted: the marker must go on the persistent device", rc.Persist)
	case slices.Contains(m.Options, "ro"):
		return refuse("reset.persist %s is mounted read-only: the marker cannot be written", rc.Persist)
	}
	for _, f := range []string{r.earlyBootScript(), r.earlyBootHook()} {
		if _, err := os.Lstat(f); err != nil {
			return refuse("the early-boot step is not installed (%s): run devmgr provision, which installs it and updates the initramfs", f)
		}
	}
	if _, err := r.bootID(); err != nil {
		return refuse("%v", err)
	}
	return nil
}

// sameFS reports whether a and b lie on one filesystem.
func sameFS(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev
}

// checkedText says what the checks found.
func (r *Resetter) checkedText(ov overlay) string {
	rc := r.cfg.Reset
	state := "not mounted"
	if ov.mounted {
		state = "mounted"
	}
	return fmt.Sprintf("%s mode; the overlay at %s is %s (upper %s)", rc.Mode, rc.Merged, state, rc.Upper)
}

// phaseTitle names a phase in words.
func phaseTitle(phase string) string {
	if phase == "" {
		return "the reset"
	}
	return strings.ReplaceAll(phase, "_", " ")
}

// failedChecks says which checks failed.
func failedChecks(v *api.ResetVerification) string {
	if v == nil {
		return "not verified"
	}
	var out []string
	for _, c := range v.Checks {
		if !c.OK {
			out = append(out, c.Name+": "+c.Detail)
		}
	}
	return strings.Join(out, "; ")
}
