// Package backup makes a device's whole setup one file that can be kept
// elsewhere and put back, on the same device or a replacement, and puts it
// back without ever leaving the device half-restored.
//
// # The archive
//
// A .tar.gz, or a .devmgr-backup when encrypted (age, scrypt passphrase:
// filippo.io/age around the same .tar.gz). Its members are regular files
// named by logical names, in this order:
//
//	manifest.json   format version, devmgr version, host name, creation time, kind, and the size and SHA-256 of every other member
//	config.yaml     the devmgr config file, as it was
//	console.db      a consistent snapshot of the console's database (store.Snapshot: VACUUM INTO while it runs)
//	tls-cert.pem    the certificate devmgr generated, and
//	tls-key.pem     its key (both only when the config uses a generated pair)
//	agent-ap.json   apmgr.State: the AP settings saved from the console (passphrase included), the MAC deny list
//	agent-lan.json  the confirmed LAN configs (netif.LinkConfig by interface)
//
// Not in it: pending changes and the change log, command history, the
// agent's audit log, dnsmasq's leases. An unencrypted archive holds the
// WiFi passphrase and the password hashes: it is written 0600 in
// backup.dir (root:root 0700).
//
// # Reading an archive
//
// An archive is untrusted, whoever uploaded it. Read bounds the file, the
// unpacked total and every member; refuses links, devices, directories,
// absolute and ".." names and unknown members (ErrUnsafe, ErrInvalid);
// wants the manifest first and refuses a newer format naming the devmgr
// that made it (ErrTooNew); checks every member's size and SHA-256
// against the manifest (ErrTampered) and gzip's and age's own checks
// (ErrDamaged, ErrPassphrase). No member is ever written where its name
// points: a restore knows where each one goes. Verify then checks the
// contents as the device checks each when it is made: the config as
// devmgr config check, the database opens and migrates in the staging
// directory (store.Open) and passes SQLite's integrity check with an admin
// in it, the TLS pair loads, and the agent's settings pass the agent's
// API validation (apmgr's settings and deny list rules, netif.Validate)
// against that config.
//
// # Restoring
//
// Restore reads and verifies the archive, collects the device's state as
// a backup would, and computes the plan, a pure function of the two
// states and the device's interface names (PlanRestore): the config diff,
// users and tokens added, removed or changed, the AP settings, deny list
// and LAN configs old → new, and the backup's interface names this
// device lacks, each with a suggestion for --map old=new. A refused
// archive, a missing interface or an agent that cannot take its part now
// stops it with nothing touched. Then the device's state is kept as a
// pre-restore backup and the steps run: the config (config.WriteKeeping:
// atomic, mode and owner kept), the console's accounts
// (store.RestoreAccounts: users and tokens replaced in one transaction
// while the console runs, every session ended, the audit log kept) and
// TLS pair, and the agent's settings (Agent).
//
// The console's database and files belong to the console's account; root
// never opens them (Console: ChildConsole runs LocalConsole as web.user).
// The agent's settings go back through the agent: a running agent takes
// them as one change of its change engine (AgentRestorer: the modules'
// own plans, rolled back unless confirmed), a stopped one reads them from
// the files OfflineAgent writes at its next start, validating them as it
// does everything it reads back.
//
// devmgr backup restore (root, the agent stopped) restores everything and
// then provisions the device from a restored config. The console's
// restore, through the running agent, is Stage with KeepConfig: the
// config file (with the command whitelist) is root's and stays; the
// backup's AP settings become the ones saved from the console, its LAN
// configs go to the LAN interfaces of the device's config. The agent
// applies it in steps: the pre-restore backup (Staged.KeepCurrent), its
// settings as an AgentRestorer change, and only once that is confirmed
// the console's part (Staged.RestoreConsole), so that an unconfirmed
// restore leaves the device as it was.
//
// # Uploads
//
// Upload keeps an archive from elsewhere in backup.dir once it passes
// every check of a restore, named by its manifest's host and time with
// the kind KindUploaded (never pruned); a refused one leaves nothing.
//
// # Room
//
// Backups go to backup.dir, on a device the root filesystem, and manual
// and uploaded ones are never pruned. Every archive written there (and
// to --output) must leave its filesystem at least 64 MiB or 5% free,
// whichever is more, counting the most it may be: Create bounds it by its
// members, Upload by its limit. Otherwise it is ErrNoRoom, and nothing is
// written. The agent's API also caps how many manual and uploaded backups
// may accumulate (api.MaxKeptByHand).
//
// # On schedule
//
// devmgr provision installs devmgr-backup.timer (backup.schedule) which
// runs `devmgr backup create --scheduled`: RunScheduled makes a backup,
// prunes the scheduled ones to backup.keep and audits the result. Where
// systemd is not PID 1 the agent runs Ticker, whose clock is injected.
//
//	backup.Create(ctx, backup.CreateOptions{Sources: src, Dir: cfg.Backup.Dir, Kind: backup.KindManual, Version: v})
//	backup.List(dir) / backup.Prune(dir, keep)
//	backup.CheckArchive(ctx, r, backup.ReadOptions{Passphrase: ask}, src)   // devmgr backup verify
//	backup.Restore(ctx, r, backup.RestoreOptions{Sources: src, Agent: agent, Dir: dir, DryRun: true})
//	backup.RunScheduled(ctx, opts, keep, audit) / backup.Ticker{..., Last: func() (time.Time, bool) { return backup.LastScheduled(dir) }}.Loop(ctx)
//	r, _ := backup.NewAgentRestorer(backup.AgentRestorerConfig{Changes: engine, AP: ap, Network: net}) // in the agent
//	r.Restore(ctx, state.Effective(cfg))                                       // the agent's restore route (internal/agent backups.go)
//	st, _ := backup.Stage(ctx, r, backup.RestoreOptions{Sources: src, KeepConfig: true}); st.KeepCurrent(); st.RestoreConsole(ctx)
//	backup.Upload(ctx, body, backup.UploadOptions{Dir: dir, Limits: backup.Limits{Archive: max}})
package backup
