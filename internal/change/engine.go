package change

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Begin makes a change: while no other change is pending it calls plan
// (which validates against the state Undo will restore), journals the
// plan's Undo and Keep, runs Apply and arms the rollback timer. Unless
// Confirm(id) comes within the timeout, the module's Undo runs. plan's
// errors are returned as they are; a failed Apply is undone before Begin
// returns its error. A pending change is a *PendingError. The change
// records the user WithUser named in ctx, and the plan's Changes.
func (e *Engine) Begin(ctx context.Context, plan func(ctx context.Context) (Plan, error)) (Change, error) {
	e.op.Lock()
	defer e.op.Unlock()
	if err := e.free(); err != nil {
		return Change{}, err
	}
	p, err := plan(ctx)
	if err != nil {
		return Change{}, err
	}
	m, ok := e.module(p.Kind)
	if !ok || p.Apply == nil {
		return Change{}, fmt.Errorf("beginning a change of %q: no such module, or no Apply", p.Kind)
	}
	j, err := e.newJournal(p, UserFrom(ctx))
	if err != nil {
		return Change{}, err
	}
	if err := WriteJSON(e.path(pendingFile), j); err != nil {
		return Change{}, fmt.Errorf("journaling the change: %w", err)
	}
	e.mu.Lock()
	e.pending = j
	e.changes[j.Change.ID] = j.Change
	e.mu.Unlock()
	e.log.Info("applying change", "id", j.Change.ID, "kind", p.Kind, "target", p.Target, "fields", p.Fields, "rollback_at", j.Change.RollbackAt)
	if err := p.Apply(ctx); err != nil {
		return Change{}, e.applyFailed(context.WithoutCancel(ctx), m, j, err)
	}
	e.arm(j.Change.ID)
	return j.Change, nil
}

// free refuses a change while another is pending or the engine is closed.
func (e *Engine) free() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errClosed
	}
	if e.pending != nil {
		return &PendingError{Change: e.pending.Change}
	}
	return nil
}

func (e *Engine) newJournal(p Plan, user string) (*journal, error) {
	if len(user) > maxUserLen || !printable(user) {
		return nil, fmt.Errorf("beginning a %s change: user %q is not a user name", p.Kind, Clip(user))
	}
	if err := validFieldChanges(p.Changes); err != nil {
		return nil, fmt.Errorf("beginning a %s change: %w", p.Kind, err)
	}
	undo, err := json.Marshal(p.Undo)
	if err != nil {
		return nil, fmt.Errorf("encoding the undo of a %s change: %w", p.Kind, err)
	}
	keep, err := json.Marshal(p.Keep)
	if err != nil {
		return nil, fmt.Errorf("encoding what a %s change keeps: %w", p.Kind, err)
	}
	now := e.cfg.Now()
	ch := Change{ID: newID(), Kind: p.Kind, Target: p.Target, Fields: p.Fields, User: user, Changes: p.Changes,
		Status: StatusPending, CreatedAt: now, RollbackAt: now.Add(e.cfg.Timeout)}
	return &journal{Change: ch, Undo: undo, Keep: keep}, nil
}

// applyFailed undoes a change whose Apply failed and says so.
func (e *Engine) applyFailed(ctx context.Context, m Module, j *journal, err error) error {
	ch := e.rollback(ctx, m, j, ReasonApplyFailed)
	if ch.Error != "" {
		return fmt.Errorf("applying %s change %s (rolled back, but incompletely: %s): %w", ch.Kind, ch.ID, ch.Error, err)
	}
	return fmt.Errorf("applying %s change %s (rolled back): %w", ch.Kind, ch.ID, err)
}

// arm starts the rollback timer of the pending change id.
func (e *Engine) arm(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stop = e.cfg.AfterFunc(e.cfg.Timeout, func() { e.expire(id) })
}

// expire rolls back change id if it is still pending.
func (e *Engine) expire(id string) {
	e.op.Lock()
	defer e.op.Unlock()
	e.mu.Lock()
	j := e.pending
	e.mu.Unlock()
	if j == nil || j.Change.ID != id {
		return
	}
	m, _ := e.module(j.Change.Kind) // Begin found it
	e.rollback(context.Background(), m, j, ReasonTimeout)
}

// rollback runs the module's Undo of j and records the change as rolled
// back. The caller holds e.op.
func (e *Engine) rollback(ctx context.Context, m Module, j *journal, reason string) Change {
	ch := j.Change
	e.log.Warn("rolling back change", "id", ch.ID, "kind", ch.Kind, "target", ch.Target, "reason", reason)
	err := m.Undo(ctx, ch, j.Undo)
	if err != nil {
		e.log.Error("rolling back change", "id", ch.ID, "kind", ch.Kind, "err", err)
		ch.Error = err.Error()
	}
	now := e.cfg.Now()
	ch.Status, ch.FinishedAt, ch.Reason = StatusRolledBack, &now, reason
	e.finish(ch, !errors.Is(err, ErrKeepJournal))
	return ch
}

// finish records ch as finished, drops the journal when told to and
// tells OnFinish, all before Get can show ch finished.
func (e *Engine) finish(ch Change, dropJournal bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stop != nil {
		e.stop()
		e.stop = nil
	}
	e.pending = nil
	e.changes[ch.ID] = ch
	list := e.listLocked()
	if len(list) > e.cfg.MaxChanges {
		for _, x := range list[e.cfg.MaxChanges:] {
			delete(e.changes, x.ID)
		}
		list = list[:e.cfg.MaxChanges]
	}
	if err := WriteJSON(e.path(changesFile), list); err != nil {
		e.log.Error("saving the change log", "err", err)
	}
	if dropJournal {
		if err := removeFile(e.path(pendingFile)); err != nil {
			e.log.Error("removing the change journal", "err", err)
		}
	}
	if e.cfg.OnFinish != nil {
		e.cfg.OnFinish(ch)
	}
}

func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", p, err)
	}
	return nil
}

// Confirm keeps the pending change id: the module's Keep runs and the
// journal goes. A change that is not pending is ErrNotPending (with the
// change), an unknown one ErrUnknownChange.
func (e *Engine) Confirm(ctx context.Context, id string) (Change, error) {
	e.op.Lock()
	defer e.op.Unlock()
	e.mu.Lock()
	ch, ok := e.changes[id]
	j := e.pending
	e.mu.Unlock()
	if !ok {
		return Change{}, fmt.Errorf("change %q: %w", Clip(id), ErrUnknownChange)
	}
	if j == nil || j.Change.ID != id {
		return ch, fmt.Errorf("change %s is %s: %w", id, ch.Status, ErrNotPending)
	}
	m, _ := e.module(ch.Kind)
	if err := m.Keep(ctx, ch, j.Keep); err != nil {
		return ch, fmt.Errorf("keeping %s change %s: %w", ch.Kind, id, err)
	}
	// Once the journal is gone a crash can no longer undo the change.
	if err := removeFile(e.path(pendingFile)); err != nil {
		return ch, fmt.Errorf("confirming %s change %s: %w", ch.Kind, id, err)
	}
	now := e.cfg.Now()
	ch.Status, ch.FinishedAt, ch.Reason = StatusConfirmed, &now, ReasonConfirmed
	e.finish(ch, false)
	e.log.Info("change confirmed", "id", id, "kind", ch.Kind, "target", ch.Target)
	return ch, nil
}

// Recover rolls back a change that a crash left pending. Call it once at
// start, after every Register. A journal that fails validation (its
// module's Check included) is set aside, reported through OnRejected and
// returned as an error; nothing of it is applied. A journal of a kind no
// module registered is left where it is.
func (e *Engine) Recover(ctx context.Context) error {
	e.op.Lock()
	defer e.op.Unlock()
	var j journal
	ok, err := ReadJSON(e.path(pendingFile), &j)
	if err != nil || !ok {
		return e.recoverErr(err)
	}
	// Modules get the bytes they journaled, not the file's indentation.
	j.Undo, j.Keep = compact(j.Undo), compact(j.Keep)
	m, known := e.module(j.Change.Kind)
	if !known && kindRE.MatchString(j.Change.Kind) {
		return fmt.Errorf("recovering a %s change: no such module; journal left in place", j.Change.Kind)
	}
	if err := e.validJournal(&j, m); err != nil {
		return e.recoverErr(err)
	}
	e.mu.Lock()
	busy := e.pending != nil || e.closed
	if !busy {
		e.pending = &j
		e.changes[j.Change.ID] = j.Change
	}
	e.mu.Unlock()
	if busy {
		return errors.New("recovering changes: a change is pending already, or the engine is closed")
	}
	if ch := e.rollback(ctx, m, &j, ReasonRestart); ch.Error != "" {
		return fmt.Errorf("rolling back %s change %s left pending: %s", ch.Kind, ch.ID, ch.Error)
	}
	return nil
}

func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if len(raw) == 0 || json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// recoverErr sets aside a journal that failed validation.
func (e *Engine) recoverErr(err error) error {
	if errors.Is(err, ErrInvalid) {
		e.reject.Reject(pendingFile, err)
		return fmt.Errorf("change journal set aside: %w", err)
	}
	return err
}

// validJournal checks a journal read back from disk, m's Check included.
func (e *Engine) validJournal(j *journal, m Module) error {
	if err := validChange(j.Change); err != nil {
		return err
	}
	if j.Change.Status != StatusPending {
		return Invalidf("change %s is %s, not pending", j.Change.ID, j.Change.Status)
	}
	if err := m.Check(j.Change, j.Undo, j.Keep); err != nil {
		if errors.Is(err, ErrInvalid) {
			return err
		}
		return Invalidf("%s change %s: %v", j.Change.Kind, j.Change.ID, err)
	}
	return nil
}
