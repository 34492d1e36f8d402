package apmgr

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/hostapd"
)

// loadDeny reads StateDir/ap-deny.json or, the first time, the installed
// deny file, so that stations refused before keep being refused.
func (m *Manager) loadDeny() ([]string, error) {
	return loadDenyList(m.cfg.StateDir, m.sys(m.cfg.DenyFile))
}

// loadDenyList reads stateDir/ap-deny.json or, when there is none, the
// installed deny file at installed. What it reads from stateDir must pass
// the API's checks (change.ErrInvalid otherwise).
func loadDenyList(stateDir, installed string) ([]string, error) {
	var list []string
	ok, err := change.ReadJSON(filepath.Join(stateDir, denyFile), &list)
	if err != nil {
		return nil, err
	}
	if ok {
		if len(list) > maxDenied {
			return nil, invalidf("%d addresses on the deny list, at most %d", len(list), maxDenied)
		}
		for _, mac := range list {
			if _, err := hostapd.NormalizeMAC(mac); err != nil {
				return nil, invalidf("the deny list: %v", err)
			}
		}
	} else {
		b, _, err := readFile(installed)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			list = append(list, strings.Fields(l)[0]) // hostapd allows a VLAN ID after the address
		}
	}
	out := []string{}
	for _, mac := range list {
		n, err := hostapd.NormalizeMAC(mac)
		if err != nil {
			return nil, fmt.Errorf("loading the deny list: %w", err)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Denied returns the MAC addresses on the deny list, sorted.
func (m *Manager) Denied() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string{}, m.deny...)
}

// saveDeny persists list and renders it into hostapd's deny file.
func (m *Manager) saveDeny(list []string) error {
	b, err := hostapd.RenderDenyList(list)
	if err != nil {
		return err
	}
	if err := m.writeJSON(denyFile, list); err != nil {
		return err
	}
	if err := writeFile(m.sys(m.cfg.DenyFile), b, 0o644); err != nil {
		return err
	}
	m.mu.Lock()
	m.deny = list
	m.mu.Unlock()
	return nil
}

// setDeny makes list the deny list and reloads hostapd; when hostapd
// cannot be reloaded, the previous list is put back.
func (m *Manager) setDeny(ctx context.Context, list []string) error {
	m.mu.Lock()
	prev := m.deny
	m.mu.Unlock()
	if err := m.saveDeny(list); err != nil {
		return err
	}
	if err := m.reload(ctx); err != nil {
		if rerr := m.saveDeny(prev); rerr != nil {
			m.log.Error("restoring the deny list", "err", rerr)
		}
		return err
	}
	return nil
}

// Deny puts a station on the deny list, reloads hostapd and disconnects
// the station, which then cannot associate again until Allow. Denying a
// denied station disconnects it again. Errors: *fielderr.Error (mac).
func (m *Manager) Deny(ctx context.Context, mac string) error {
	n, err := hostapd.NormalizeMAC(mac)
	if err != nil {
		return fieldErr("mac", "%v", err)
	}
	m.op.Lock()
	defer m.op.Unlock()
	list := m.Denied()
	if !slices.Contains(list, n) {
		list = append(list, n)
		slices.Sort(list)
		if err := m.setDeny(ctx, list); err != nil {
			return fmt.Errorf("denying %s (not denied): %w", n, err)
		}
		m.log.Info("station denied", "mac", n)
	}
	// A reload does not drop stations already associated.
	if err := m.control(func(c Control) error { return c.Deauth(ctx, n) }); err != nil {
		m.log.Warn("disconnecting a denied station", "mac", n, "err", err)
	}
	return nil
}

// Allow takes a station off the deny list and reloads hostapd. Errors:
// *fielderr.Error (mac), ErrNotDenied.
func (m *Manager) Allow(ctx context.Context, mac string) error {
	n, err := hostapd.NormalizeMAC(mac)
	if err != nil {
		return fieldErr("mac", "%v", err)
	}
	m.op.Lock()
	defer m.op.Unlock()
	list := m.Denied()
	i := slices.Index(list, n)
	if i < 0 {
		return fmt.Errorf("allowing %s: %w", n, ErrNotDenied)
	}
	list = slices.Delete(list, i, i+1)
	if err := m.setDeny(ctx, list); err != nil {
		return fmt.Errorf("allowing %s (still denied): %w", n, err)
	}
	m.log.Info("station allowed", "mac", n)
	return nil
}

// syncDenyFile rewrites the installed deny file when it differs from the
// saved list (a crash between the two writes), and reloads hostapd.
func (m *Manager) syncDenyFile(ctx context.Context) error {
	list := m.Denied()
	want, err := hostapd.RenderDenyList(list)
	if err != nil {
		return err
	}
	got, ok, err := readFile(m.sys(m.cfg.DenyFile))
	if err != nil {
		return err
	}
	if ok && bytes.Equal(got, want) || !ok && len(list) == 0 {
		return nil // in place, or nothing to refuse before provision installs it
	}
	if err := m.saveDeny(list); err != nil {
		return err
	}
	if !ok {
		return nil // a hostapd that runs without the file is not ours to reload
	}
	if err := m.reload(ctx); err != nil {
		m.log.Warn("reloading hostapd after repairing the deny file", "err", err)
	}
	return nil
}
