// Package apmgr is the agent's access-point module: it reports what the
// running hostapd is doing (state, clients joined with dnsmasq's leases),
// changes the AP's settings from the console as a transaction that rolls
// itself back unless confirmed, and keeps a MAC deny list.
//
// The API the agent mounts (JSON types throughout):
//
//	m, err := apmgr.New(apmgr.Config{Cfg: cfg, Changes: engine, Services: mgr, Log: log}) // registers as Kind "ap"
//	engine.Recover(ctx)             // at start: roll back a change a crash left pending (change package)
//	m.Sync(ctx)                     // then: repair the deny file, re-install the console's saved settings if a re-provision replaced them
//	m.Status(ctx)                   // Status: running, state, ssid, channel, frequency, security, clients, problem
//	m.Clients(ctx)                  // []Client: every station, joined with the DHCP leases by MAC
//	m.Settings()                    // Settings: the effective settings, without the passphrase
//	m.Update(ctx, s)                // Change (pending): a plan (validate, render, check) the engine journals and applies
//	m.Confirm(ctx, id) / m.Change(id) / m.Pending() / m.Changes()   // AP changes only
//	m.Deny(ctx, mac) / m.Allow(ctx, mac) / m.Denied()
//	m.SetDenied(ctx, list)          // the whole deny list at once (a restore)
//	m.PlanSettings(ctx, s)          // Update's plan, for a change made of several modules' plans (a restore)
//	apmgr.ReadState(stateDir, "") / apmgr.WriteState(stateDir, st) // State: saved settings and deny list, for backups
//
// Errors map to HTTP codes: *fielderr.Error 400 (its Field names the JSON
// field: ssid, passphrase, security, band, channel, country, isolate,
// hidden, mac), ErrPending 409, ErrNoChange 409, ErrNotPending 409,
// ErrUnknownChange 404, ErrNotDenied 404, ErrNotRunning 503; anything else
// 500 (a *hostapd.ParseError inside means hostapd's own parser refused the
// rendered file, which validation should have prevented).
//
// # Settings made in the console
//
// The settings an admin changes (ssid, passphrase, security, band,
// channel, country, isolate, hidden) are kept in StateDir/ap-settings.json
// (0600: it holds the passphrase) once the first change is made. They
// override the ap section of the config file, so a confirmed change
// survives an agent restart and a reboot; the config file itself is never
// rewritten. Effective gives the AP config with these overrides applied, for
// anyone who renders hostapd's config (devmgr provision should use it, or a
// re-provision reverts the console's changes until the agent's next start,
// when Sync installs them again). Deleting ap-settings.json
// returns the AP to the config file's values at the next provision.
//
// StateDir is the agent's own (agent.state_dir, root:root 0700). Even so,
// everything read back from it passes the API's validation again; a file
// that fails is renamed NAME.rejected-TIME, reported through OnRejected and
// never used.
//
// A change goes through the device's change engine (internal/change),
// which journals it before anything is written: the previous settings
// (never file contents). Unless Confirm comes within the rollback timeout
// (network.rollback_timeout), the Manager's Undo renders hostapd's config
// from those settings again, has hostapd's parser check it, installs it
// and reloads hostapd; a journal the engine's Recover finds at start (the
// agent crashed or was restarted mid-change) is rolled back the same way,
// once Check has validated it as the API would.
//
// The deny list is StateDir/ap-deny.json (seeded from the installed deny
// file the first time), rendered into the hostapd deny_mac_file.
package apmgr
