package apmgr

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/google/go-cmp/cmp"
)

// newRejecting is e.new with the rejections it and its engine report
// recorded.
func (e *env) newRejecting() (*Manager, *[]string) {
	e.t.Helper()
	var got []string
	rejected := func(file, reason string) { got = append(got, file+": "+reason) }
	m := e.new(func(ec *change.Config, c *Config) { ec.OnRejected, c.OnRejected = rejected, rejected })
	return m, &got
}

// journalFile is the engine's journal, under the state directory.
const journalFile = "changes/pending.json"

func (e *env) writeState(name, content string) { testutil.WriteState(e.t, e.data, name, content) }

// setAside reports whether name was moved to NAME.rejected-*.
func (e *env) setAside(name string) bool { return testutil.SetAside(e.t, e.data, name) }

// A forged AP journal is never applied: hostapd's config, the settings
// and the deny file stay as they were, the journal is set aside and the
// rejection reported.
func TestRecoverRefusesForgedJournal(t *testing.T) {
	const head = `{"change":{"change_id":"0123456789abcdef","kind":"ap","status":"pending","fields":["ssid"]},`
	for name, j := range map[string]string{
		// The journal of an older devmgr carried the previous config
		// verbatim: an open network with a control socket for anyone.
		"verbatim config": head + `"undo":{"prev_conf":"aW50ZXJmYWNlPXdsYW4wCnNzaWQ9b3Blbgp3cGE9MApjdHJsX2ludGVyZmFjZV9ncm91cD0wCg==","prev_conf_exists":true}}`,
		"open network":    head + `"undo":{"prev_settings":{"ssid":"x","passphrase":"","security":"none","band":"2.4ghz","channel":6,"country":"US"}}}`,
		"injected ssid":   head + `"undo":{"prev_settings":{"ssid":"x\nbridge=br0","passphrase":"correct horse battery","security":"wpa2","band":"2.4ghz","channel":6,"country":"US"}}}`,
		"not a setting":   `{"change":{"change_id":"0123456789abcdef","kind":"ap","status":"pending","fields":["bridge"]},"undo":{"prev_settings":null}}`,
		"a target":        `{"change":{"change_id":"0123456789abcdef","kind":"ap","target":"eth0","status":"pending"},"undo":{"prev_settings":null}}`,
		"bad id":          `{"change":{"change_id":"../../etc","kind":"ap","status":"pending","fields":["ssid"]},"undo":{"prev_settings":null}}`,
		"not json":        `{"change":`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.writeState(journalFile, j)
			_, rejected := e.newRejecting()
			snap := e.snapshot()
			delete(snap, filepath.Join(e.data, journalFile))
			err := e.eng.Recover(context.Background())
			if err == nil || !strings.Contains(err.Error(), "set aside") {
				t.Errorf("Recover = %v, want the journal set aside", err)
			}
			if diff := cmp.Diff(snap, e.snapshot(), cmpIgnoreRejected(e)); diff != "" {
				t.Errorf("files changed (-before +after):\n%s", diff)
			}
			if !e.setAside(journalFile) {
				t.Error("the journal was not set aside")
			}
			if len(*rejected) != 1 || !strings.HasPrefix((*rejected)[0], journalFile) {
				t.Errorf("rejections reported: %q", *rejected)
			}
			if e.fake.count("RELOAD") != 0 {
				t.Errorf("hostapd reloaded: %q", e.fake.commands())
			}
		})
	}
}

func cmpIgnoreRejected(e *env) cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		if mi, ok := p.Last().(cmp.MapIndex); ok {
			return strings.Contains(mi.Key().String(), ".rejected-")
		}
		return false
	}, cmp.Ignore())
}

// A genuine journal is rolled back by rendering its previous settings.
func TestRecoverRendersPreviousSettings(t *testing.T) {
	e := newEnv(t)
	e.writeState(journalFile, `{"change":{"change_id":"0123456789abcdef","kind":"ap","status":"pending","fields":["ssid"]},
		"undo":{"prev_settings":{"ssid":"Before","passphrase":"correct horse battery","security":"wpa2","band":"2.4ghz","channel":6,"country":"US","isolate":false,"hidden":false}}}`)
	e.writeState(settingsFile, `{"ssid":"During","passphrase":"correct horse battery","security":"wpa2","band":"2.4ghz","channel":6,"country":"US","isolate":false,"hidden":false}`)
	m, rejected := e.newRejecting()
	if err := e.eng.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if conf := string(e.read(DefaultHostapdConf)); !strings.Contains(conf, "\nssid=Before\n") {
		t.Errorf("hostapd config after rollback:\n%s", conf)
	}
	if got := m.Settings().SSID; got != "Before" {
		t.Errorf("SSID = %q", got)
	}
	if len(*rejected) != 0 {
		t.Errorf("rejections: %q", *rejected)
	}
}

// A settings file that fails the API's validation is set aside: the
// config file's values stay in effect and nothing is installed from it.
func TestNewRefusesForgedSettings(t *testing.T) {
	e := newEnv(t)
	e.writeState(settingsFile, `{"ssid":"Open","passphrase":"short","security":"wpa2","band":"2.4ghz","channel":6,"country":"US","isolate":false,"hidden":false}`)
	m, rejected := e.newRejecting()
	if got := m.Settings().SSID; got != e.cfg.AP.SSID {
		t.Errorf("SSID = %q, want the config file's %q", got, e.cfg.AP.SSID)
	}
	if changed, err := m.Sync(context.Background()); err != nil || changed {
		t.Errorf("Sync = %v, %v; want nothing installed", changed, err)
	}
	if string(e.read(DefaultHostapdConf)) != string(e.origConf) {
		t.Error("hostapd config changed")
	}
	if !e.setAside(settingsFile) || len(*rejected) != 1 {
		t.Errorf("set aside %v, rejections %q", e.setAside(settingsFile), *rejected)
	}
	if _, err := Effective(e.cfg, ""); err != nil {
		t.Errorf("Effective after the file went aside: %v", err)
	}
}

// A forged deny list or change log is set aside too.
func TestNewRefusesForgedDenyAndChanges(t *testing.T) {
	e := newEnv(t)
	e.writeState(denyFile, `["02:00:00:00:00:01", "not a mac\nbridge=br0"]`)
	e.writeState("changes/changes.json", `[{"change_id":"zz","kind":"ap","status":"pending"}]`)
	m, rejected := e.newRejecting()
	if len(m.Denied()) != 0 || len(m.Changes()) != 0 {
		t.Errorf("denied %q, changes %v", m.Denied(), m.Changes())
	}
	if !e.setAside(denyFile) || !e.setAside("changes/changes.json") || len(*rejected) != 2 {
		t.Errorf("rejections %q", *rejected)
	}
}
