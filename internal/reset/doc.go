// Package reset is the device's factory reset on OverlayFS: it returns an
// overlay to its lower (factory) layer, shows what differs from it
// before, and proves afterwards that it worked.
//
// The kernel's overlayfs documentation calls changing a layer of a
// mounted overlay undefined, so nothing here ever deletes inside a
// mounted upper layer: the mount mode unmounts first (never lazily) and
// checks every mount namespace's table before it wipes; the root mode
// wipes in early boot, before the overlay is mounted.
//
// # Modes (config reset.mode)
//
// mount: a data overlay (reset.lower, upper, work, merged). A run checks
// (the host name typed, no other run, no pending change of the agent, the
// overlay as configured, nothing mounted inside it, the services known),
// stops the services (reset.services and the console), keeps the
// settings (a backup archive in Dir) when asked, unmounts (a busy overlay
// is refused naming the processes that hold it, from /proc, and the
// device is put back: nothing was wiped), empties upper and work, mounts
// again with the same layers, options and flags, restores the kept
// settings or clears devmgr's own (the console back to its first start),
// verifies and starts the services.
//
// root: the root filesystem on overlayroot, its upper layer on a
// persistent device (reset.device, mounted at reset.persist). A run
// checks, keeps the settings beside the upper layer, writes the marker
// (device.ResetRequest) there and reboots. The early-boot step that
// devmgr provision installs in the initramfs (internal/provision) mounts
// the device before overlayroot does, empties upper and work while
// nothing mounts them and records it (device.ResetWiped, or
// device.ResetRefused saying why not). After the boot, Resume (devmgr
// reset --resume, run by devmgr-reset.service) stops the services,
// restores or clears the settings, verifies and starts them.
//
// # The journal
//
// A run is recorded in Dir (agent.state_dir/reset; the root mode's on the
// persistent layer) before each step: journal.json, written atomically,
// read back strictly (internal/change's helpers) and set aside when it
// fails validation. A process that dies mid-run (or a power loss) leaves
// it unfinished: Resume carries on from the wipe (again: it is
// idempotent and only ever runs unmounted), or, when the wipe never
// began, puts the device back as it was and records the run as failed. A
// flock on Dir's lock keeps runs one at a time across processes.
//
//	r, err := reset.New(reset.Config{Reset: cfg.Reset, Dir: cfg.ResetDir(), Settings: settings,
//	        Services: &service.Systemd{}, ServiceNames: reset.ServiceNames(cfg, false), Reboot: reboot})
//	run, ok, err := r.Resume(ctx)                 // devmgr reset --resume: a queued run, or one left unfinished
//	run, err := r.Queue(ctx, req)                 // the agent: checked and journaled; devmgr-reset.service runs it
//	run, err := r.Start(ctx, reset.Request{Confirm: host, KeepSettings: true, User: "alice"})
//	evs, run, more := r.Events(afterSeq)          // progress, for a stream
//	err := r.Refresh()                            // the agent: the journal again, as devmgr-reset.service writes it
//	run, err := r.Wait(ctx) / r.Run(ctx, req)     // Start and Wait
//	info := r.Info(ctx)                           // GET /v1/system/reset: overlay state and the last run
//	r.WriteChanges(ctx, w)                        // the upper layer as a .tar.gz
package reset
