package reset

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
)

func (r *Resetter) earlyBootScript() string { return filepath.Join(r.cfg.Root, device.InitramfsScript) }
func (r *Resetter) earlyBootHook() string   { return filepath.Join(r.cfg.Root, device.InitramfsHook) }

// reboot is the root mode's last phase before the boot: the marker on the
// persistent layer, then the reboot. The run stays ResetRebooting; the
// next boot's Resume finishes it.
func (r *Resetter) reboot(ctx context.Context, j *journal) {
	if err := r.note(j, api.PhaseRebooting, api.PhaseActive, "writing the marker on the persistent layer"); err != nil {
		r.finish(j, api.PhaseRebooting, err)
		return
	}
	if err := r.writeRequest(j.ID); err != nil {
		r.finish(j, api.PhaseRebooting, err)
		return
	}
	r.update(j, func(j *journal) { j.Status = api.ResetRebooting })
	msg := fmt.Sprintf("marker %s written; rebooting: the early-boot step empties %s before the overlay is mounted",
		filepath.Join(r.cfg.Dir, device.ResetRequest), r.cfg.Reset.Upper)
	if err := r.note(j, api.PhaseRebooting, api.PhaseDone, msg); err != nil {
		r.finish(j, api.PhaseRebooting, errors.Join(err, r.withdrawRequest()))
		return
	}
	if r.cfg.Interrupt != nil && r.cfg.Interrupt(api.PhaseRebooting) {
		return
	}
	if err := r.cfg.Reboot(ctx); err != nil {
		if werr := r.withdrawRequest(); werr != nil {
			err = errors.Join(err, werr)
		}
		r.finish(j, api.PhaseRebooting, &phaseError{err: fmt.Errorf("rebooting: %w; the marker is withdrawn and nothing was wiped", err),
			hint: "reboot the device by hand once its cause is fixed, and reset again"})
	}
}

// writeRequest writes the early-boot step's marker, durably.
func (r *Resetter) writeRequest(id string) error {
	for _, f := range []string{device.ResetRefused, device.ResetWiped} { // an earlier run's
		if err := os.Remove(filepath.Join(r.cfg.Dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	p := filepath.Join(r.cfg.Dir, device.ResetRequest)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("writing the marker %s: %w", p, err)
	}
	_, err = fmt.Fprintf(f, "devmgr reset %s\n", id)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(r.cfg.Dir)
	}
	if err != nil {
		os.Remove(p)
		return fmt.Errorf("writing the marker %s: %w", p, err)
	}
	return nil
}

// withdrawRequest removes the marker, so that no later boot wipes.
func (r *Resetter) withdrawRequest() error {
	p := filepath.Join(r.cfg.Dir, device.ResetRequest)
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("withdrawing the marker %s: %w", p, err)
	}
	return syncDir(r.cfg.Dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// bootRecord is what the early-boot step wrote: ResetWiped or
// ResetRefused, lines of key=value.
type bootRecord map[string]string

// readBootRecord reads dir/name; nil when there is none.
func readBootRecord(dir, name string) (bootRecord, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the early-boot step's record: %w", err)
	}
	defer f.Close()
	rec := bootRecord{}
	sc := bufio.NewScanner(io.LimitReader(f, 4096))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			rec[k] = text(v)
		}
	}
	return rec, sc.Err()
}

// earlyBoot records the root mode's wiping phase from what the early-boot
// step left on the persistent layer, and takes the record away.
func (r *Resetter) earlyBoot(j *journal) error {
	if err := r.note(j, api.PhaseWiping, api.PhaseActive, "reading what the early-boot step did"); err != nil {
		return err
	}
	refused, err := readBootRecord(r.cfg.Dir, device.ResetRefused)
	if err != nil {
		return err
	}
	wiped, err := readBootRecord(r.cfg.Dir, device.ResetWiped)
	if err != nil {
		return err
	}
	withdraw := r.withdrawRequest()
	for _, f := range []string{device.ResetRefused, device.ResetWiped} {
		if err := os.Remove(filepath.Join(r.cfg.Dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	switch {
	case refused != nil && refused["boot_id"] != j.BootID:
		return &phaseError{err: fmt.Errorf("the early-boot step did not wipe %s: %s", r.cfg.Reset.Upper, refused["reason"]),
			hint: "nothing was wiped; reset again once its cause is fixed"}
	case wiped != nil && wiped["boot_id"] != j.BootID:
		when := "in this boot"
		if cur, _ := r.bootID(); wiped["boot_id"] != cur {
			when = "in an earlier boot"
		}
		return r.note(j, api.PhaseWiping, api.PhaseDone, fmt.Sprintf("the early-boot step emptied %s (%s entries) and %s %s, before the overlay was mounted",
			r.cfg.Reset.Upper, wiped["entries"], r.cfg.Reset.Work, when))
	}
	err = fmt.Errorf("the early-boot step did not run: nothing was wiped")
	if withdraw != nil {
		err = errors.Join(err, withdraw)
	}
	return &phaseError{err: err,
		hint: fmt.Sprintf("is it in the initramfs? devmgr provision installs %s and runs update-initramfs -u; is %s the device that holds %s?",
			device.InitramfsScript, r.cfg.Reset.Device, r.cfg.Reset.Upper)}
}

// resumePoint says which steps finish j (under r.mu); nil with no error:
// the run waits for its reboot.
func (r *Resetter) resumePoint(j *journal) ([]string, error) {
	if j.Mode == config.ResetMount {
		if !afterWipe(j) {
			return []string{stepRecover}, nil
		}
		return r.resumeFrom(j, api.PhaseStopping, api.PhaseUnmount, api.PhaseWiping, api.PhaseRemount,
			api.PhaseSettings, api.PhaseVerifying, api.PhaseStarting)
	}
	cur, err := r.bootID()
	if err != nil {
		return nil, err
	}
	switch {
	case afterWipe(j):
		return r.resumeFrom(j, api.PhaseStopping, api.PhaseSettings, api.PhaseVerifying, api.PhaseStarting)
	case cur == j.BootID && j.Status == api.ResetRebooting:
		return nil, nil
	case cur == j.BootID:
		return []string{stepRecover}, nil
	}
	return r.resumeFrom(j, stepEarlyBoot, api.PhaseStopping, api.PhaseSettings, api.PhaseVerifying, api.PhaseStarting)
}

// resumeFrom makes steps pending again and records that the run goes on.
func (r *Resetter) resumeFrom(j *journal, steps ...string) ([]string, error) {
	was, status := j.Phase, j.Status
	for i := range j.Phases {
		if slices.Contains(steps, j.Phases[i].Name) || j.Phases[i].Name == api.PhaseWiping && slices.Contains(steps, stepEarlyBoot) {
			j.Phases[i] = api.ResetPhase{Name: j.Phases[i].Name, State: api.PhasePending}
		}
	}
	j.Status, j.Error, j.Hint, j.FinishedAt, j.Holders = api.ResetRunning, "", "", nil, nil
	if slices.Contains(steps, api.PhaseVerifying) {
		j.Verification = nil
	}
	msg := fmt.Sprintf("resuming the reset, which stopped in phase %s (%s)", was, status)
	if status == api.ResetRebooting {
		msg = "the device rebooted: finishing the reset"
	}
	if err := r.record(j, j.Phase, j.phase(j.Phase).State, msg); err != nil {
		return nil, err
	}
	return steps, nil
}
