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
//	netif.Validate(cfg, name, lc, current) error  // *FieldError{Field, Message} or an error wrapping ErrProtected
//	netif.ValidateUp(cfg, name, current) error    // the same for up/down
//
//	c, err := netif.NewChanger(netif.Config{Handle: h, AppConfig: cfg, // JournalDir default data_dir/network
//	        Timeout: cfg.Network.RollbackTimeout, DHCP: dhcpManager, Log: log, Now: time.Now})
//	c.Recover(ctx)                      // at start: roll back a change a crash left pending
//	c.ApplyDesired(ctx)                 // at start: re-apply the confirmed LAN configs
//	ch, err := c.SetConfig(ctx, name, lc) // validate + apply + journal + timer; ErrPending, ErrProtected, *FieldError
//	ch, err := c.SetUp(ctx, name, up)     // admin up/down of a LAN interface, same rules
//	ch, err := c.Begin(ctx, name, apply)  // the generic transaction under both
//	c.Confirm(id) / c.Get(id) / c.Pending() / c.Changes()  // Change{ID, Interface, Status, RollbackAt, ...}
//	c.Desired(name)                     // the confirmed LinkConfig of a LAN interface
//	c.Close()                           // stops timers; a pending change stays in the journal
//
// DNS servers of a static config are not applied here: Config.OnApplied
// reports the configs in force and dhcp.Config.OnLease a lease's servers;
// the agent passes both to the AP's dnsmasq as upstream servers.
//
// Errors map to HTTP codes: *FieldError 400 (field in Field), ErrProtected 403,
// ErrNotFound 404, ErrPending 409, ErrUnknownChange 404, ErrNotPending 409
// (confirming a change that was rolled back or confirmed already).
package netif
