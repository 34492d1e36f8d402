package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/backup"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/provision"
	"github.com/devmgr/devmgr/internal/service"
)

func newBackupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "make, list, verify and restore backups of the device's whole setup",
		Long: `A backup holds the config, a snapshot of the console's database (users,
tokens, audit log), the TLS pair devmgr generated and the agent's settings
(AP settings, deny list, LAN configs). Backups are made by root into
backup.dir; devmgr-backup.timer makes one on backup.schedule and keeps
backup.keep of them. See internal/backup for the archive's layout.`,
	}
	cmd.AddCommand(newBackupCreateCmd(), newBackupListCmd(), newBackupVerifyCmd(), newBackupRestoreCmd(), newBackupConsoleCmd())
	// The installed deny list, read while agent.state_dir has none (tests).
	cmd.PersistentFlags().String("hostapd-deny", apmgr.DefaultDenyFile, "the installed hostapd deny list")
	_ = cmd.PersistentFlags().MarkHidden("hostapd-deny")
	return cmd
}

// backupSources loads the config --config names and says where a
// backup's members come from on this device.
func backupSources(cmd *cobra.Command) (config.Config, backup.Sources, error) {
	flag, _ := cmd.Flags().GetString("config")
	path, err := filepath.Abs(config.Path(flag))
	if err != nil {
		return config.Config{}, backup.Sources{}, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return config.Config{}, backup.Sources{}, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		return config.Config{}, backup.Sources{}, fmt.Errorf("config %s: %w", path, err)
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	deny, _ := cmd.Flags().GetString("hostapd-deny")
	src, err := deviceBackupSources(cfg, path, raw, deny, log)
	return cfg, src, err
}

// deviceBackupSources are where a backup's members come from on this
// device, for devmgr backup and devmgr agent alike: the config file at
// path (raw, its bytes, as cfg), the installed deny list, and the
// console's part, which root takes as web.user in a child process
// (backup.ChildConsole: root never opens the console's files).
func deviceBackupSources(cfg config.Config, path string, raw []byte, deny string, log *slog.Logger) (backup.Sources, error) {
	src := backup.Sources{Config: cfg, ConfigPath: path, Console: backup.LocalConsole{Config: cfg, Log: log}, DenyFile: deny, Log: log}
	if os.Geteuid() != 0 {
		return src, nil
	}
	cred, err := webUserCredential(cfg)
	if err != nil {
		return src, err
	}
	src.Console = backup.ChildConsole{Argv: []string{"/proc/self/exe", "backup", "console"}, Config: raw, Credential: cred,
		Env: append(os.Environ(), asWebUserEnv+"="+strconv.Itoa(int(cred.Uid)))}
	return src, nil
}

// passphrase reads a passphrase from the first line of file, or else asks
// on the terminal (twice with confirm).
func passphrase(cmd *cobra.Command, file string, confirm bool) func() (string, error) {
	return func() (string, error) {
		if file != "" {
			f, err := os.Open(file)
			if err != nil {
				return "", fmt.Errorf("--passphrase-file: %w", err)
			}
			defer f.Close()
			line, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return "", fmt.Errorf("--passphrase-file: %w", err)
			}
			p := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			if p == "" {
				return "", errors.New("--passphrase-file: the first line is empty")
			}
			return p, nil
		}
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			return "", errors.New("no terminal to ask for the passphrase on: give --passphrase-file FILE")
		}
		defer tty.Close()
		ask := func(prompt string) (string, error) {
			fmt.Fprint(tty, prompt)
			b, err := term.ReadPassword(int(tty.Fd()))
			fmt.Fprintln(tty)
			return string(b), err
		}
		p, err := ask("Passphrase: ")
		if err != nil || !confirm {
			return p, err
		}
		again, err := ask("Passphrase again: ")
		if err != nil {
			return "", err
		}
		if again != p {
			return "", errors.New("the passphrases differ")
		}
		return p, nil
	}
}

// agentAudit appends to the agent's audit log in agent.state_dir (root's;
// the agent serves it as GET /v1/audit). The caller closes it.
func agentAudit(ctx context.Context, cfg config.Config) (backup.Auditor, func(), error) {
	l, err := auditlog.Open(ctx, auditlog.Path(cfg.Agent.StateDir), auditlog.Retention{
		Keep: time.Duration(cfg.Audit.Keep), MaxRows: cfg.Audit.MaxRows})
	if err != nil {
		return nil, func() {}, err
	}
	return l.Append, func() { l.Close() }, nil
}

func newBackupCreateCmd() *cobra.Command {
	var output, passFile string
	var encrypt, scheduled bool
	var workFactor int
	cmd := &cobra.Command{
		Use:   "create [--output FILE] [--encrypt [--passphrase-file FILE]]",
		Short: "make a backup in backup.dir (or FILE); --encrypt asks for a passphrase",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if passFile != "" && !encrypt {
				return errors.New("--passphrase-file goes with --encrypt")
			}
			cfg, src, err := backupSources(cmd)
			if err != nil {
				return err
			}
			o := backup.CreateOptions{Sources: src, Dir: cfg.Backup.Dir, Output: output, Kind: backup.KindManual, Version: version,
				WorkFactor: workFactor}
			if scheduled {
				if encrypt || output != "" {
					return errors.New("--scheduled writes unencrypted backups into backup.dir: no --encrypt or --output")
				}
				audit, done, err := agentAudit(cmd.Context(), cfg)
				if err != nil {
					return fmt.Errorf("opening the agent's audit log: %w", err)
				}
				defer done()
				return backup.RunScheduled(cmd.Context(), o, cfg.Backup.Keep, audit)
			}
			if encrypt {
				if o.Passphrase, err = passphrase(cmd, passFile, true)(); err != nil {
					return err
				}
			}
			info, err := backup.Create(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes)\n", info.Path, info.Size)
			if !info.Encrypted {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: %s is not encrypted: it holds the WiFi passphrase and the console's password hashes; "+
					"keep it where only you can read it, or use --encrypt\n", info.Name)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&output, "output", "", "write the backup to FILE instead of backup.dir")
	cmd.Flags().BoolVar(&encrypt, "encrypt", false, "encrypt with a passphrase (asked on the terminal); the file ends in .devmgr-backup")
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "read the passphrase from the first line of FILE")
	cmd.Flags().BoolVar(&scheduled, "scheduled", false, "the scheduled backup: into backup.dir, then keep backup.keep of them; the result goes to the agent's audit log")
	_ = cmd.Flags().MarkHidden("scheduled")
	// scrypt's log2 N; tests lower it.
	cmd.Flags().IntVar(&workFactor, "work-factor", backup.DefaultWorkFactor, "scrypt work factor of --encrypt (log2 N)")
	_ = cmd.Flags().MarkHidden("work-factor")
	return cmd
}

func newBackupListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "list the backups in backup.dir, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			list, err := backup.List(cfg.Backup.Dir)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCREATED\tSIZE\tKIND\tVERSION\tENCRYPTED")
			for _, b := range list {
				v := b.Version
				switch {
				case b.Problem != "":
					v = "(" + b.Problem + ")"
				case b.Encrypted:
					v = "(encrypted)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", b.Name, b.CreatedAt.Local().Format(time.DateTime), b.Size, b.Kind, v, yesNo(b.Encrypted))
			}
			return tw.Flush()
		},
	}
}

func newBackupVerifyCmd() *cobra.Command {
	var passFile string
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "check a backup whole, as a restore would, and say what it holds; changes nothing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			m, st, err := backup.CheckArchive(cmd.Context(), f, backup.ReadOptions{Passphrase: passphrase(cmd, passFile, false)}, log)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			admins := 0
			for _, u := range st.Users {
				if u.Role == "admin" {
					admins++
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok: made by devmgr %s on %s at %s (%s)\n", args[0], m.Version, m.Hostname,
				m.CreatedAt.Local().Format(time.DateTime), m.Kind)
			fmt.Fprintf(cmd.OutOrStdout(), "  %d users (%d admins), %d tokens; access point %q; %d denied stations; %d LAN configs\n",
				len(st.Users), admins, len(st.Tokens), st.Agent.AP.Effective(st.Config.AP).SSID, len(st.Agent.AP.Deny), len(st.Agent.LAN))
			return nil
		},
	}
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "an encrypted backup's passphrase: the first line of FILE (else asked on the terminal)")
	return cmd
}

func newBackupRestoreCmd() *cobra.Command {
	var passFile, provisionRoot string
	var dryRun, noProvision bool
	var maps []string
	cmd := &cobra.Command{
		Use:   "restore FILE [--dry-run] [--map OLD=NEW]...",
		Short: "put a backup in place of the device's setup, after checking it whole; --dry-run shows what would change",
		Long: `restore checks the backup whole (every member's hash, its format version, the
config as devmgr config check, the database, the agent's settings) and shows
what changes: the config, users and tokens, the access point, deny list and
LAN configs. Interfaces the backup names that this device lacks stop it;
--map OLD=NEW names the device's interface for each. Nothing is touched when
anything is wrong. Then the device's state is kept in backup.dir as a
pre-restore backup and the config, the console's accounts (every session
ends) and the agent's settings are restored.

The agent must be stopped (systemctl stop devmgr-agent): it applies the
restored settings at its next start. When the config changed, restore then
provisions the device from it, as devmgr provision does: the system files,
and where systemd runs the services restarted, the agent and the console
among them, so that the restored config takes effect (--no-provision leaves
that to you). The console's page restores a backup too, while the agent
runs, but keeps the config: only root restores that.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mapping := map[string]string{}
			for _, m := range maps {
				old, nu, ok := strings.Cut(m, "=")
				if !ok || old == "" || nu == "" {
					return fmt.Errorf("--map %q is not OLD=NEW", m)
				}
				mapping[old] = nu
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			cfg, src, err := backupSources(cmd)
			if err != nil {
				return err
			}
			o := backup.RestoreOptions{Sources: src, Passphrase: passphrase(cmd, passFile, false), Maps: mapping, DryRun: dryRun,
				Agent: backup.OfflineAgent{Socket: cfg.Agent.Socket, StateDir: cfg.Agent.StateDir},
				Dir:   cfg.Backup.Dir, Version: version, Out: cmd.OutOrStdout()}
			if !dryRun {
				audit, done, err := agentAudit(cmd.Context(), cfg)
				if err != nil {
					return fmt.Errorf("opening the agent's audit log: %w", err)
				}
				defer done()
				o.Audit = audit
			}
			res, err := backup.Restore(cmd.Context(), f, o)
			if err != nil || dryRun || res.Plan.ConfigDiff == "" {
				return err
			}
			return provisionRestored(cmd, src.ConfigPath, provisionRoot, noProvision)
		},
	}
	cmd.Flags().BoolVar(&noProvision, "no-provision", false, "do not provision the device from a restored config")
	// Where the provisioning after a restore installs (tests: a staging
	// directory).
	cmd.Flags().StringVar(&provisionRoot, "provision-root", "/", "directory provisioning after the restore installs into")
	_ = cmd.Flags().MarkHidden("provision-root")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would change; change nothing")
	cmd.Flags().StringArrayVar(&maps, "map", nil, "OLD=NEW: the backup's interface OLD is this device's NEW (repeatable)")
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "an encrypted backup's passphrase: the first line of FILE (else asked on the terminal)")
	return cmd
}

// provisionRestored makes a restored config take effect: devmgr provision
// of it into root, the services (re)started by systemd where it runs
// (the config's digest changed: the agent and the console restart, and
// the agent applies the restored settings as it starts). Without systemd,
// the services are devmgr provision's children, which this command cannot
// restart: it says so.
func provisionRestored(cmd *cobra.Command, path, root string, skip bool) error {
	out := cmd.OutOrStdout()
	if skip {
		fmt.Fprintln(out, "the config changed: run devmgr provision to render the system files from it and restart the services")
		return nil
	}
	services := provision.ServicesNone
	if service.SystemdRunning() {
		services = string(service.KindSystemd)
	}
	fmt.Fprintln(out, "provisioning the device from the restored config")
	if err := provisionFrom(cmd.Context(), out, path, root, services, "", false); err != nil {
		return fmt.Errorf("the backup is restored, but provisioning from its config failed: %w; fix that, then run devmgr provision", err)
	}
	if services == provision.ServicesNone && filepath.Clean(root) == "/" {
		fmt.Fprintln(out, "no systemd here: the services were not restarted; start devmgr provision again (it supervises them) to run them with the restored config")
	}
	return nil
}

// newBackupConsoleCmd is the console's part of a backup, which root runs
// as web.user (backup.ChildConsole): export writes the console's members
// to stdout, import reads them from stdin.
func newBackupConsoleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "console export|import",
		Short:  "the console's part of a backup, run as web.user",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if os.Geteuid() == 0 {
				return errors.New("the console's part of a backup never runs as root")
			}
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			c := backup.LocalConsole{Config: cfg, Log: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
			switch args[0] {
			case "export":
				return c.Export(cmd.Context(), cmd.OutOrStdout())
			case "import":
				return c.Import(cmd.Context(), cmd.InOrStdin())
			}
			return fmt.Errorf("%q is neither export nor import", args[0])
		},
	}
	return cmd
}
