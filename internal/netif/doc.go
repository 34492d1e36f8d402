// Package netif reads and changes the network interfaces of the namespace the
// agent runs in, through netlink only (never the ip program), and makes every
// change a transaction that rolls itself back unless confirmed.
//
// The API the agent uses:
//
//	h, err := netif.Open()             // the current network namespace
//	h, err := netif.OpenAt(nsPath)     // another one (tests: lab.NSPath(lab.Device))
//	h.List(ctx) / h.Get(ctx, name)     // []Interface / Interface, JSON for the API
//	h.Snapshot(ctx, name)              // State: admin up, MTU, addresses, main-table routes
//	h.Apply(ctx, name, st)             // make the link equal st; a second call changes nothing
//	h.ApplyConfig(ctx, name, lc)       // lc as link state (mode dhcp: up/MTU, no addresses or routes)
//	h.Do(fn)                           // run fn on an OS thread inside h's namespace (sockets)
//
//	netif.Validate(cfg, name, lc, current) error  // fielderr.List (every bad field; errors.As finds the first *fielderr.Error) or ErrProtected
//	netif.ValidateUp(cfg, name, current) error    // the same for up/down
//
//	c, err := netif.NewChanger(netif.Config{Handle: h, AppConfig: cfg, Changes: engine, // registers as Kind "network"
//	        DHCP: dhcpManager, Log: log, OnApplied: f})                       // Dir default state_dir/network
//	engine.Recover(ctx)                 // at start: roll back a change a crash left pending (change package)
//	c.ApplyDesired(ctx)                 // at start: re-apply the confirmed LAN configs
//	ch, err := c.SetConfig(ctx, name, lc) // validate + journal + apply + timer, through the engine
//	ch, err := c.SetUp(ctx, name, up)     // admin up/down of a LAN interface, same rules
//	c.Confirm(ctx, id) / c.Get(id) / c.Pending() / c.Changes()  // network changes only: Change{ID, Interface, Status, User, Changes, Waiting, ...}
//	c.Desired(name)                     // the confirmed LinkConfig of a LAN interface
//	c.InForce(name)                     // the pending change's config, else the confirmed one
//	c.DHCPState(name)                   // "waiting" / "bound" in mode dhcp, else ""
//	netif.Diff(prev, link, next)        // what a change does, field by field, old → new (Change.Changes)
//	c.PlanConfig(ctx, name, lc)         // SetConfig's plan, for a change made of several modules' plans (a restore)
//	netif.ReadDesired(cfg, dir) / netif.WriteDesired(cfg, dir, d) / netif.ValidateDesired(cfg, d) // the confirmed configs, for backups
//
// The Changer is the network module of the change engine (internal/change):
// a change journals the link's state and confirmed config (Undo) and the
// new config (Keep); Check validates a journal read back from disk as the
// API would, Undo restores the link and its DHCP client, Keep makes the
// config the desired one (StateDir/network/desired.json).
//
// DNS servers of a static config are not applied here: Config.OnApplied
// reports the configs in force and dhcp.Config.OnLease a lease's servers;
// the agent passes both to the AP's dnsmasq as upstream servers.
//
// Errors map to HTTP codes: fielderr.List 400 (the first's field in Field), ErrProtected 403,
// ErrNotFound 404, ErrPending 409, ErrUnknownChange 404, ErrNotPending 409
// (confirming a change that was rolled back or confirmed already).
package netif
