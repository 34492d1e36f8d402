// Package change is the device's one change engine: a change that may cut
// the admin off (a LAN address, the AP's SSID) is journaled before it is
// applied, undone unless confirmed within a timeout, and undone at the next
// start when the agent dies with it pending. The device has one pending
// change at a time, whatever module makes it.
//
// A module (netif, apmgr) registers itself under a kind and hands the
// engine plans: what to journal for an undo, what to keep on confirm, and
// how to apply. The engine owns the rest:
//
//	e, err := change.New(change.Config{Dir: stateDir + "/changes", Timeout: time.Minute,
//	        OnFinish: audit, OnRejected: report})
//	e.Register("network", module)           // Check, Undo, Keep of the module's journals
//	e.Recover(ctx)                          // at start: undo a change a crash left pending
//	ch, err := e.Begin(ctx, planner)        // plan (nothing else pending), journal, apply, arm the timer
//	ctx = change.WithUser(ctx, "alice")     // Begin records the user; the plan's Changes say old → new per field
//	e.Confirm(ctx, id) / e.Get(id) / e.Pending() / e.Changes()
//	e.Close()                               // stops the timer; a pending change stays journaled
//
// Files in Dir: pending.json (the journal of the pending change) and
// changes.json (the last changes, newest first). Dir is the agent's own
// (agent.state_dir, root:root 0700); even so, everything read back from it
// is checked again: files are decoded strictly (no symlink followed, size
// bounded, unknown fields refused), the change log's entries must look as
// the engine writes them, and a journal must pass its module's Check before
// its Undo runs. A file that fails is renamed NAME.rejected-UNIXTIME,
// reported through Config.OnRejected and never used. Modules use the same
// helpers (ReadJSON, WriteJSON, DecodeStrict, Rejecter) for their own files.
package change
