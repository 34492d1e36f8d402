package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBackupDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("backup: {keep: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Backup{Dir: "/var/backups/devmgr", Schedule: ScheduleDaily, Keep: 3}
	if diff := cmp.Diff(want, c.Backup); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestBackupProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml string
		want       []Problem
	}{
		{"inside data_dir", "data_dir: /srv/devmgr\nbackup: {dir: /srv/devmgr/backups}\n",
			[]Problem{{Path: "backup.dir", Message: `"/srv/devmgr/backups" must not be inside data_dir "/srv/devmgr", which the console account owns`}}},
		{"is data_dir", "data_dir: /srv/devmgr/\nbackup: {dir: /srv/devmgr}\n",
			[]Problem{{Path: "backup.dir", Message: `"/srv/devmgr" must not be inside data_dir "/srv/devmgr/", which the console account owns`}}},
		{"inside state_dir", "backup: {dir: /var/lib/devmgr-agent/b}\n",
			[]Problem{{Path: "backup.dir", Message: `"/var/lib/devmgr-agent/b" must not be inside agent.state_dir "/var/lib/devmgr-agent": a backup would hold the backups`}}},
		{"relative", "backup: {dir: backups}\n",
			[]Problem{{Path: "backup.dir", Message: `"backups" must be an absolute path or start with ./`}}},
		{"schedule and keep", "backup: {schedule: sometimes, keep: 0}\n",
			[]Problem{
				{Path: "backup.schedule", Message: `"sometimes" is not one of hourly, daily, weekly, monthly`},
				{Path: "backup.keep", Message: "0 is outside 1..1000"},
			}},
		{"unknown key", "backup: {often: true}\n",
			[]Problem{{Path: "backup.often", Line: 1, Message: `unknown key "often"`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantProblems(t, tc.yaml, tc.want)
		})
	}
}

// A sibling whose name starts like data_dir is not inside it.
func TestBackupDirBesideDataDir(t *testing.T) {
	t.Parallel()
	if _, err := Parse([]byte("data_dir: /srv/devmgr\nbackup: {dir: /srv/devmgr-backups}\n")); err != nil {
		t.Fatal(err)
	}
}
