package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/testing/freshvm"
	"github.com/devmgr/devmgr/internal/testing/vm"
)

// newVMCmd is make run DEVICE=vm.
func newVMCmd() *cobra.Command {
	var debs, listen, dir string
	cmd := &cobra.Command{
		Use:   "vm",
		Short: "boot the fresh-install VM with the package set up, the console forwarded here, two stations associated, until Ctrl-C",
		Long: "Boots Debian 12 in qemu (TCG) with systemd, mac80211_hwsim's radios and the package from\n" +
			"DEBS (make deb) installed and set up as devmgr setup does it; forwards LISTEN to the\n" +
			"console and keeps a WPA2 and a WPA3-SAE station associated. The first start makes the\n" +
			"image (debootstrap) and installs the package: minutes; later ones boot in about a minute.\n" +
			"Needs root.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			debsGlob := filepath.Join(debs, "devmgr_*_amd64.deb")
			m, err := filepath.Glob(debsGlob)
			if err != nil || len(m) != 1 {
				return errors.New("want one " + debsGlob + ": run make deb")
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			return freshvm.Demo{Deb: m[0], Listen: listen, Out: os.Stdout, CacheDir: vm.DefaultCacheDir, Dir: abs}.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&debs, "debs", "./bin/deb", "directory with the package (make deb)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8443", "host address the console is forwarded to")
	cmd.Flags().StringVar(&dir, "dir", "./var/vm", "the run's disks and logs")
	return cmd
}
