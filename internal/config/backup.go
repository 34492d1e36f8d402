package config

import (
	"path/filepath"
	"slices"
	"strings"
)

// Backup configures devmgr's backups: where `devmgr backup` writes them and
// how often the scheduled ones are made and how many are kept.
type Backup struct {
	// Dir holds the backups, root:root 0700. It must lie outside any
	// overlay the system reset wipes, and never in data_dir (the console
	// account owns that, and a backup holds the WiFi passphrase and the
	// password hashes).
	Dir string `yaml:"dir"`
	// Schedule is how often a backup is made: hourly, daily, weekly or
	// monthly (systemd's calendar shorthands, and the agent's own ticker
	// where systemd is not PID 1).
	Schedule string `yaml:"schedule"`
	// Keep is how many scheduled backups stay; older ones are removed.
	Keep int `yaml:"keep"`
}

// DefaultBackupDir is backup.dir's default.
const DefaultBackupDir = "/var/backups/devmgr"

// Backup schedules.
const (
	ScheduleHourly  = "hourly"
	ScheduleDaily   = "daily"
	ScheduleWeekly  = "weekly"
	ScheduleMonthly = "monthly"
)

// Schedules lists the values backup.schedule takes.
var Schedules = []string{ScheduleHourly, ScheduleDaily, ScheduleWeekly, ScheduleMonthly}

// MaxBackupKeep bounds backup.keep.
const MaxBackupKeep = 1000

// DefaultBackup is the backup section's default.
func DefaultBackup() Backup {
	return Backup{Dir: DefaultBackupDir, Schedule: ScheduleDaily, Keep: 7}
}

func (c Config) validateBackup(ps *Problems) {
	b := c.Backup
	switch {
	case b.Dir == "":
		ps.add("backup.dir", "must not be empty")
	case !filepath.IsAbs(b.Dir) && !strings.HasPrefix(b.Dir, "."):
		ps.add("backup.dir", "%q must be an absolute path or start with ./", b.Dir)
	case c.DataDir != "" && within(b.Dir, c.DataDir):
		ps.add("backup.dir", "%q must not be inside data_dir %q, which the console account owns", b.Dir, c.DataDir)
	case c.Agent.StateDir != "" && within(b.Dir, c.Agent.StateDir):
		ps.add("backup.dir", "%q must not be inside agent.state_dir %q: a backup would hold the backups", b.Dir, c.Agent.StateDir)
	}
	if !slices.Contains(Schedules, b.Schedule) {
		ps.add("backup.schedule", "%q is not one of %s", b.Schedule, strings.Join(Schedules, ", "))
	}
	if b.Keep < 1 || b.Keep > MaxBackupKeep {
		ps.add("backup.keep", "%d is outside 1..%d", b.Keep, MaxBackupKeep)
	}
}

// within reports whether path is dir or lies below it (lexically).
func within(path, dir string) bool {
	p, d := filepath.Clean(path), filepath.Clean(dir)
	return p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/")
}
