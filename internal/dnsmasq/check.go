package dnsmasq

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/devmgr/devmgr/internal/toolrun"
)

// CheckTimeout bounds one run of dnsmasq by Check.
const CheckTimeout = 10 * time.Second

// Check runs `dnsmasq --test -C FILE` on conf. The file is checked on its
// own: dnsmasq's default /etc/dnsmasq.conf is not read.
func Check(ctx context.Context, conf []byte) error {
	bin, err := toolrun.LookPath("dnsmasq")
	if err != nil {
		return fmt.Errorf("checking dnsmasq config: %w", err)
	}
	dir, err := os.MkdirTemp("", "devmgr-dnsmasq-check-")
	if err != nil {
		return fmt.Errorf("checking dnsmasq config: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "dnsmasq.conf")
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		return fmt.Errorf("checking dnsmasq config: %w", err)
	}
	if _, err := toolrun.Run(ctx, toolrun.Options{Timeout: CheckTimeout}, bin, "--test", "-C", path); err != nil {
		return fmt.Errorf("checking dnsmasq config: %w", err)
	}
	return nil
}
