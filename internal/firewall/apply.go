package firewall

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/devmgr/devmgr/internal/toolrun"
)

// Timeout bounds one run of nft.
const Timeout = 15 * time.Second

// Check runs `nft -c -f FILE` on the ruleset inside a new, empty network
// namespace (a new user namespace too when not root), so a check never
// reads or changes the host's rules.
func Check(ctx context.Context, ruleset []byte) error {
	if err := runFile(ctx, ruleset, true, "-c", "-f"); err != nil {
		return fmt.Errorf("checking nftables ruleset: %w", err)
	}
	return nil
}

// Apply loads the ruleset with `nft -f FILE` in the caller's network
// namespace; nft applies a file as one transaction.
func Apply(ctx context.Context, ruleset []byte) error {
	if err := runFile(ctx, ruleset, false, "-f"); err != nil {
		return fmt.Errorf("applying nftables ruleset: %w", err)
	}
	return nil
}

// Delete removes devmgr's table if it exists.
func Delete(ctx context.Context) error {
	if err := runFile(ctx, []byte("table "+Table+" {}\ndelete table "+Table+"\n"), false, "-f"); err != nil {
		return fmt.Errorf("deleting nftables table %s: %w", Table, err)
	}
	return nil
}

func runFile(ctx context.Context, ruleset []byte, newNetns bool, flags ...string) error {
	bin, err := toolrun.LookPath("nft")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "devmgr-nft-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "devmgr.nft")
	if err := os.WriteFile(path, ruleset, 0o600); err != nil {
		return err
	}
	argv := append(append([]string{bin}, flags...), path)
	_, err = toolrun.Run(ctx, toolrun.Options{Timeout: Timeout, NewNetns: newNetns}, argv...)
	return err
}
