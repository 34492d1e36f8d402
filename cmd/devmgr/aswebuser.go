package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/devmgr/devmgr/internal/config"
)

// asWebUserEnv marks a devmgr that root started as web.user (asWebUser).
const asWebUserEnv = "DEVMGR_AS_WEB_USER"

// configFromParent is the --config of such a devmgr: the config comes on
// file descriptor 3 (a pipe root made, which this user cannot reopen by
// its /proc path).
const configFromParent = "/dev/fd/3"

// parentConfig reads the config root passed on descriptor 3.
func parentConfig() (config.Config, error) {
	f := os.NewFile(3, "config from the parent")
	if f == nil {
		return config.Config{}, errors.New("reading config: no descriptor 3")
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return config.Config{}, fmt.Errorf("reading config: %w", err)
	}
	return config.Parse(raw)
}

// asWebUser makes every subcommand of parent run as the console's account
// (web.user) when it is started as root: root never opens the console's
// database, whose directory that account owns and could fill with
// symlinks. The command runs again, as that user, with the config root
// read passed on a pipe (the account may not be able to read the file).
func asWebUser(parent *cobra.Command) {
	for _, c := range parent.Commands() {
		run := c.RunE
		if run == nil {
			continue
		}
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if os.Geteuid() != 0 {
				return run(cmd, args)
			}
			if os.Getenv(asWebUserEnv) != "" {
				return errors.New("still root after switching to web.user; refusing to open the console's database")
			}
			return rerunAsWebUser(cmd, args)
		}
	}
}

// webUserCredential looks up cfg's web.user for a command run by root.
func webUserCredential(cfg config.Config) (*syscall.Credential, error) {
	u, err := user.Lookup(cfg.Web.User)
	if err != nil {
		return nil, fmt.Errorf("web.user %q: %w; run as root, this command works on the console's database as that account: "+
			"create it (devmgr provision does), or run the command as the console's account", cfg.Web.User, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("web.user %q has uid %q and gid %q", cfg.Web.User, u.Uid, u.Gid)
	}
	if uid == 0 {
		return nil, fmt.Errorf("web.user %q is root; the console and its database belong to an unprivileged account", cfg.Web.User)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// rerunAsWebUser runs cmd again in a child process as web.user, with the
// same arguments and standard input, and passes on its output. A failure
// comes back as the child's error message.
func rerunAsWebUser(cmd *cobra.Command, args []string) error {
	flag, _ := cmd.Flags().GetString("config")
	path := config.Path(flag)
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	cred, err := webUserCredential(cfg)
	if err != nil {
		return err
	}
	argv := strings.Fields(cmd.CommandPath())[1:]
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name != "config" {
			argv = append(argv, "--"+f.Name+"="+f.Value.String())
		}
	})
	argv = append(argv, "--config="+configFromParent, "--")
	argv = append(argv, args...)

	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("passing the config on: %w", err)
	}
	defer r.Close()
	go func() {
		// The config is small: the pipe buffer holds it, and the child
		// reads it at once.
		w.Write(raw)
		w.Close()
	}()
	var stderr bytes.Buffer
	c := exec.CommandContext(cmd.Context(), "/proc/self/exe", argv...)
	c.Env = append(os.Environ(), asWebUserEnv+"="+strconv.Itoa(int(cred.Uid)))
	c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), &stderr
	c.ExtraFiles = []*os.File{r}
	c.Dir = "/"
	c.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	err = c.Run()
	out := stderr.String()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		// The child printed "devmgr: MESSAGE" last: that is the error.
		body, last := splitLastLine(out)
		cmd.ErrOrStderr().Write([]byte(body))
		if msg, ok := strings.CutPrefix(last, "devmgr: "); ok {
			return errors.New(msg)
		}
		cmd.ErrOrStderr().Write([]byte(last))
		return exitCode(ee.ExitCode())
	}
	cmd.ErrOrStderr().Write([]byte(out))
	if err != nil {
		return fmt.Errorf("running the command as web.user %q: %w", cfg.Web.User, err)
	}
	return nil
}

// splitLastLine splits s before its last non-empty line.
func splitLastLine(s string) (body, last string) {
	t := strings.TrimRight(s, "\n")
	i := strings.LastIndexByte(t, '\n')
	return t[:i+1], t[i+1:]
}
