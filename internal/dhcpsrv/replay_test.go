package dhcpsrv

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func (e *env) writeState(name, content string) { testutil.WriteState(e.t, e.data, name, content) }

func (e *env) setAside(name string) bool { return testutil.SetAside(e.t, e.data, name) }

// A settings file that fails the API's validation is never used: it is
// set aside and reported, and the config file's settings are in effect;
// provision's Effective refuses it.
func TestNewRefusesForgedSettings(t *testing.T) {
	for name, content := range map[string]string{
		"injected line":    `{"start":"192.168.4.2","end":"192.168.4.20","lease_time":3600,"static_leases":[{"mac":"02:00:00:00:00:01","ip":"192.168.4.50","hostname":"a\ndhcp-range=10.0.0.1,10.0.0.9"}]}`,
		"outside subnet":   `{"start":"10.0.0.2","end":"10.0.0.20","lease_time":3600,"static_leases":[]}`,
		"not normalised":   `{"start":"192.168.4.2","end":"192.168.4.20","lease_time":3600,"static_leases":[{"mac":"02-00-00-00-00-01","ip":"192.168.4.50"}]}`,
		"unknown field":    `{"start":"192.168.4.2","end":"192.168.4.20","lease_time":3600,"static_leases":[],"dhcp_option":"x"}`,
		"lease time zero":  `{"start":"192.168.4.2","end":"192.168.4.20","lease_time":0,"static_leases":[]}`,
		"not JSON":         `dhcp-range=1.2.3.4`,
		"trailing garbage": `{"start":"192.168.4.2","end":"192.168.4.20","lease_time":3600,"static_leases":[]} {}`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.writeState(settingsFile, content)
			if _, _, err := Effective(e.cfg, ""); err == nil {
				t.Error("Effective accepts the file")
			}
			m := e.new()
			if diff := cmp.Diff(fromConfig(e.cfg), m.Settings()); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
			if !e.setAside(settingsFile) || len(e.rejected) != 1 || !strings.HasPrefix(e.rejected[0], settingsFile+": ") {
				t.Errorf("set aside %v, rejections %q", e.setAside(settingsFile), e.rejected)
			}
		})
	}
	// Settings that were valid, until ap.address moved to another subnet.
	e := newEnv(t)
	e.writeState(settingsFile, `{"start":"192.168.4.2","end":"192.168.4.20","lease_time":3600,"static_leases":[]}`)
	if _, _, err := Effective(e.cfg, ""); err != nil {
		t.Fatalf("Effective of valid settings: %v", err)
	}
	c := e.cfg
	c.AP.Address, c.AP.DHCP = "10.1.0.1/24", config.DHCP{Start: "10.1.0.2", End: "10.1.0.9", Lease: e.cfg.AP.DHCP.Lease}
	if _, _, err := Effective(c, ""); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("Effective after ap.address moved = %v", err)
	}
}

// A forged journal is never undone: the files stay as they were, the
// journal is set aside and reported.
func TestRecoverRefusesForgedJournal(t *testing.T) {
	const head = `{"change":{"change_id":"0123456789abcdef","kind":"ap-dhcp","status":"pending","fields":["static_leases"]},`
	for name, j := range map[string]string{
		"injected hostname": head + `"undo":{"prev_settings":{"start":"192.168.4.2","end":"192.168.4.20","lease_time":3600,"static_leases":[{"mac":"02:00:00:00:00:01","ip":"192.168.4.50","hostname":"x\nconf-file=/etc/shadow"}]}}}`,
		"foreign range":     head + `"undo":{"prev_settings":{"start":"8.8.8.1","end":"8.8.8.9","lease_time":3600,"static_leases":[]}}}`,
		"file contents":     head + `"undo":{"prev_range":"ZGhjcC1yYW5nZT0xLjIuMy40"}}`,
		"not a setting":     `{"change":{"change_id":"0123456789abcdef","kind":"ap-dhcp","status":"pending","fields":["dhcp_option"]},"undo":{"prev_settings":null}}`,
		"a target":          `{"change":{"change_id":"0123456789abcdef","kind":"ap-dhcp","target":"eth0","status":"pending"},"undo":{"prev_settings":null}}`,
		"keeps something":   head + `"undo":{"prev_settings":null},"keep":{"x":1}}`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.writeState("changes/pending.json", j)
			snap := e.snapshot()
			delete(snap, filepath.Join(e.data, "changes/pending.json"))
			e.new()
			if err := e.eng.Recover(context.Background()); err == nil {
				t.Error("Recover accepted the journal")
			}
			got := e.snapshot()
			for p := range got {
				if strings.Contains(p, ".rejected-") {
					delete(got, p)
				}
			}
			if diff := cmp.Diff(snap, got); diff != "" {
				t.Errorf("files (-before +after):\n%s", diff)
			}
			if !e.setAside("changes/pending.json") || len(e.rejected) != 1 {
				t.Errorf("journal set aside %v, rejections %q", e.setAside("changes/pending.json"), e.rejected)
			}
			if got := e.signals(); got != [2]int{} {
				t.Errorf("dnsmasq signalled: %v", got)
			}
		})
	}
}
