package main

import (
	"bufio"
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/setup"
)

func newSetupCmd() *cobra.Command {
	var (
		a           setup.Answers
		passStdin   bool
		noProvision bool
	)
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "first run on a device: write the config from a few answers, provision, print the console's address",
		Long: `setup asks for the values that have no safe default - the country, the WiFi
network's name and passphrase, the access point's interface and the uplinks -
writes the config, runs provision and prints the console's address and where
the first admin password is.

The interfaces are found on the system; a WiFi interface that can be an access
point is offered first, and the interfaces with a default route as uplinks. On
a terminal it asks for what the flags leave out; otherwise --country, --ssid
and --passphrase-stdin are needed, and the AP interface and the uplinks are
chosen as offered. When the config file exists, what is not given keeps its
value. Run it as root.

  devmgr setup
  echo 'correct horse battery' | devmgr setup --country DE --ssid Lab \
      --passphrase-stdin --ap-interface wlan0 --uplink eth0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return errors.New("setup writes " + config.DefaultPath + " and provisions the system: run it as root")
			}
			flag, _ := cmd.Flags().GetString("config")
			o := setup.Options{
				ConfigPath: config.Path(flag),
				Out:        cmd.OutOrStdout(),
				Detector:   setup.SystemDetector(),
				Provision:  setup.ProvisionDevice(cmd.OutOrStdout(), newLogger()),
			}
			in := bufio.NewReader(cmd.InOrStdin())
			if passStdin {
				p, err := readPassword(cmd, true)
				if err != nil {
					return err
				}
				a.Passphrase = p
			} else if setup.IsTerminal(os.Stdin) {
				o.Prompter = &setup.Prompter{In: in, Out: cmd.OutOrStdout(), ReadSecret: setup.TerminalSecret(os.Stdin, in)}
			}
			if !cmd.Flags().Changed("uplink") {
				a.Uplinks = nil
			}
			if !cmd.Flags().Changed("lan") {
				a.LAN = nil
			}
			if noProvision {
				o.Provision = nil
			}
			o.Answers = a
			return setup.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.Country, "country", "", "ISO 3166 country code (decides the legal WiFi channels), e.g. US, DE")
	f.StringVar(&a.SSID, "ssid", "", "the WiFi network's name")
	f.BoolVar(&passStdin, "passphrase-stdin", false, "read the WiFi passphrase (8 to 63 characters) from the first line of stdin")
	f.StringVar(&a.Security, "security", "", "wpa2, wpa3 or wpa2-wpa3 (default wpa2-wpa3)")
	f.StringVar(&a.APInterface, "ap-interface", "", "the WiFi interface of the access point (default: the first that can be one)")
	f.StringSliceVar(&a.Uplinks, "uplink", nil, "an interface the WiFi clients reach the internet through (NAT); repeatable (default: those with a default route)")
	f.StringSliceVar(&a.LAN, "lan", nil, "an interface the Network page may configure; repeatable")
	f.BoolVar(&noProvision, "no-provision", false, "write the config only")
	return cmd
}
