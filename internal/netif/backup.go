package netif

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
)

// DesiredDir is where a Changer keeps the confirmed LAN configs by default:
// agent.state_dir/network.
func DesiredDir(cfg config.Config) string { return filepath.Join(cfg.Agent.StateDir, "network") }

// ReadDesired reads the confirmed LAN configs from dir (DesiredDir), for a
// backup: checked against cfg as a start checks them (ValidateDesired),
// and never set aside here. No file is no configs.
func ReadDesired(cfg config.Config, dir string) (map[string]LinkConfig, error) {
	d := map[string]LinkConfig{}
	if _, err := change.ReadJSON(filepath.Join(dir, desiredFile), &d); err != nil {
		return nil, err
	}
	if err := ValidateDesired(cfg, d); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, desiredFile), err)
	}
	return d, nil
}

// WriteDesired writes confirmed LAN configs into dir for an agent that is
// not running: its next start validates them again and applies them
// (ApplyDesired). They must pass ValidateDesired against cfg.
func WriteDesired(cfg config.Config, dir string, d map[string]LinkConfig) error {
	if err := ValidateDesired(cfg, d); err != nil {
		return fmt.Errorf("writing the LAN configs: %w", err)
	}
	if d == nil {
		d = map[string]LinkConfig{}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the network state directory: %w", err)
	}
	return change.WriteJSON(filepath.Join(dir, desiredFile), d)
}

// PlanConfig is the plan SetConfig hands the engine, for a change made of
// several modules' plans (a restore): it validates lc against the
// interfaces there are now and writes nothing; its Apply applies lc, and
// confirming makes lc the desired config. Call it from within the engine's
// Begin. Errors: SetConfig's (ErrNoChange when lc is in force already).
func (c *Changer) PlanConfig(ctx context.Context, name string, lc LinkConfig) (change.Plan, error) {
	if name == c.cfg.AppConfig.AP.Interface {
		return change.Plan{}, protectedErr(name)
	}
	return c.planConfig(ctx, name, lc)
}
