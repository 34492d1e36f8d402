package provision

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/service"
)

// Kinds of service manager Provision can use, besides service.KindSystemd
// and service.KindSupervisor.
const (
	// ServicesAuto is systemd when it is PID 1, else the supervisor.
	ServicesAuto = "auto"
	// ServicesNone leaves the services alone.
	ServicesNone = "none"
)

// supervisorStopTimeout bounds stopping the supervised services.
const supervisorStopTimeout = 30 * time.Second

// Provision is Run with the service manager that kind names (ServicesAuto,
// "systemd", "supervisor" or ServicesNone); o.Services is set from it on
// the device (Root "/") unless DryRun. With the supervisor (no systemd)
// devmgr itself keeps the services running as its children: Provision then
// returns only when ctx is done, after stopping them.
func Provision(ctx context.Context, c config.Config, o Options, kind string) error {
	onDevice := o.Root == "" || filepath.Clean(o.Root) == "/"
	var sup *service.Supervisor
	if onDevice && !o.DryRun {
		if kind == ServicesAuto {
			kind = string(service.Detect())
		}
		switch kind {
		case ServicesNone:
		case string(service.KindSystemd):
			o.Services = &service.Systemd{}
		case string(service.KindSupervisor):
			var err error
			sup, err = service.NewSupervisor(service.SupervisorConfig{Log: o.Log}, Specs(c, o)...)
			if err != nil {
				return err
			}
			o.Services = sup
		default:
			return fmt.Errorf("--services %q is not one of auto, systemd, supervisor, none", kind)
		}
	}
	_, err := Run(ctx, c, o)
	if sup == nil {
		return err
	}
	if err == nil {
		if o.Stdout != nil {
			fmt.Fprintf(o.Stdout, "supervising %d services (no systemd); stop with Ctrl-C or SIGTERM\n", len(sup.Names()))
		}
		<-ctx.Done()
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), supervisorStopTimeout)
	defer cancel()
	return errors.Join(err, sup.StopAll(stopCtx))
}

// LocalBinary is the installed devmgr (DefaultBinary) if there is one,
// else the running binary, so that the units' ExecStart always names a
// program that exists.
func LocalBinary() string {
	if st, err := os.Stat(DefaultBinary); err == nil && st.Mode().IsRegular() {
		return DefaultBinary
	}
	exe, err := os.Executable()
	if err != nil {
		return DefaultBinary
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		return p
	}
	return exe
}
