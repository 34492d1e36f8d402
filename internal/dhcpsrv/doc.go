// Package dhcpsrv is the agent's module for the access point's DHCP
// server (dnsmasq): an admin changes the DHCP range, the lease time and
// the static leases from the console, as a change of the device's change
// engine that rolls itself back unless confirmed.
//
// The API the agent mounts:
//
//	m, err := dhcpsrv.New(dhcpsrv.Config{Cfg: cfg, Changes: engine, Services: mgr, Log: log}) // registers as Kind "ap-dhcp"
//	engine.Recover(ctx)             // at start: roll back a change a crash left pending (change package)
//	m.Sync(ctx)                     // then: re-install the console's saved settings if a re-provision replaced them
//	m.Settings()                    // Settings: start, end, lease_time, static_leases
//	m.Address()                     // ap.address, e.g. 192.168.4.1/24: every address of the settings is in its network
//	m.Problem()                     // why changes cannot be applied on this device, in a sentence ("" when they can)
//	m.Update(ctx, s)                // change.Change (pending): a plan (validate, render, dnsmasq --test) the engine journals and applies
//	m.Confirm(ctx, id) / m.Change(id) / m.Pending()   // DHCP changes only
//
// Errors: fielderr.List (every bad field, named by its JSON path, such as
// static_leases[2].mac), *UnavailableError (the agent cannot apply the
// change here; its text is a sentence for the user, naming no path),
// ErrNoChange, and the engine's ErrPending, ErrNotPending and
// ErrUnknownChange.
//
// # Files
//
// devmgr provision installs dnsmasq's config (device.DnsmasqConf), which
// reads the DHCP range from device.DnsmasqRange (conf-file=) and the
// static leases from device.DnsmasqHosts (dhcp-hostsfile=), both rendered
// by package dnsmasq from the effective settings (Effective). The agent
// rewrites only those two files, atomically, after dnsmasq's own --test
// has passed the whole config with them in place. dnsmasq reads the range
// only when it starts, so a change of the range or lease time restarts its
// service (Config.Services: systemd on a device; without it the agent
// cannot, and refuses such a change); a change of the static leases alone
// is a SIGHUP, after which dnsmasq reads its hosts file again without
// dropping a client.
//
// The settings an admin changes are kept in StateDir/ap-dhcp.json once
// the first change is made: they override the config file's ap.dhcp, and
// are the only source of static leases (the config file has none). The
// config file is never rewritten. What is read back from StateDir passes
// the API's validation again, against the config's ap.address; a file
// that fails (for example after ap.address moved to another subnet) is
// set aside as NAME.rejected-TIME, reported through OnRejected and never
// used.
//
// A change journals the settings it replaces (never file contents).
// Unless confirmed within the rollback timeout, Undo renders the previous
// settings' files again, checks them with dnsmasq, installs them and
// restarts or signals dnsmasq as the change did.
package dhcpsrv
