// Package commands runs the command catalog (config commands) in the
// agent: it checks a request's parameters against their types and builds
// argv (Validate), runs it with toolrun's process-group spawner under the
// catalog's limits (Runner), lets several readers follow a run's output
// line by line and resume from a sequence number (Run.Lines), and keeps a
// history of runs, output included, in the agent's state directory
// (History). Never a shell: a value is one argument, or the value of one
// --flag=, and nothing else.
package commands

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/fielderr"
	"github.com/devmgr/devmgr/internal/toolrun"
)

// Errors of Start; the API maps each to its status.
var (
	// ErrBusy: MaxRuns commands run already (429).
	ErrBusy = errors.New("too many commands are running")
	// ErrForbidden: the role may not run the command (403).
	ErrForbidden = errors.New("not allowed")
	// ErrUnknownCommand: no command of the catalog has the id (404).
	ErrUnknownCommand = errors.New("no such command")
	// ErrNotFound: no run has the id (404).
	ErrNotFound = errors.New("no such run")
)

// BusyError is ErrBusy with the limit, for the message.
type BusyError struct{ Max int }

func (e *BusyError) Error() string {
	return fmt.Sprintf("%d commands are running, the most that may run at once; try again when one has ended", e.Max)
}

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// AlreadyRunningError: the user runs this command already (409). RunID is
// that run, for a page to follow it instead.
type AlreadyRunningError struct {
	Command string
	RunID   int64
}

func (e *AlreadyRunningError) Error() string {
	return fmt.Sprintf("%s is already running for you (run %d); wait for it to end or cancel it", e.Command, e.RunID)
}

// NotInstalledError is a command whose program is not there (any more):
// its Error is "/usr/bin/x is not installed".
type NotInstalledError = toolrun.NotInstalledError

// Env is what Validate learns from the device at run time.
type Env struct {
	// Interface says whether the interface name may be used now: nil when
	// it exists (and, with lanOnly, is one of the LAN interfaces), else a
	// sentence why not. Nil refuses every interface parameter.
	Interface func(name string, lanOnly bool) error
}

// Find returns the command id of a catalog.
func Find(catalog []config.Command, id string) (config.Command, error) {
	for _, c := range catalog {
		if c.ID == id {
			return c, nil
		}
	}
	return config.Command{}, fmt.Errorf("%w: %q", ErrUnknownCommand, clip(id))
}

// Allowed reports whether role may run cmd: only the roles it lists may,
// whatever their rank.
func Allowed(cmd config.Command, role auth.Role) bool {
	return role.Valid() && slices.Contains(cmd.Roles, role)
}

// Permitted returns the commands of a catalog that role may run, in order.
func Permitted(catalog []config.Command, role auth.Role) []config.Command {
	var out []config.Command
	for _, c := range catalog {
		if Allowed(c, role) {
			out = append(out, c)
		}
	}
	return out
}

// Validate checks params against cmd's parameters and returns the argv to
// run. Every bad value is reported at once, in the order of cmd's
// parameters and then the unknown ones, as a fielderr.List whose fields
// are "params.NAME": a parameter left out or empty takes its default or is
// missing, an unknown one is refused, a value is checked against its type
// (config.Param.Check) and an interface against env.
func Validate(cmd config.Command, params map[string]string, env Env) (argv []string, err error) {
	argv, _, err = resolve(cmd, params, env)
	return argv, err
}

// fieldNameRE is what a parameter name from a request may look like to be
// named as a field; anything else is reported under "params".
var fieldNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// resolve is Validate, also returning the values passed (defaults filled
// in, canonical forms), for the history.
func resolve(cmd config.Command, params map[string]string, env Env) ([]string, map[string]string, error) {
	var errs fielderr.List
	values := map[string]string{}
	for _, p := range cmd.Params {
		field := "params." + p.Name
		v, given := params[p.Name]
		if v == "" {
			v = p.Default
		}
		if v == "" {
			if given {
				errs.Add(field, "must not be empty")
			} else {
				errs.Add(field, "is required")
			}
			continue
		}
		canon, err := p.Check(v)
		if err == nil && p.Type == config.ParamInterface {
			err = checkInterface(env, canon, p.LANOnly)
		}
		if err != nil {
			errs.Add(field, "%v", err)
			continue
		}
		values[p.Name] = canon
	}
	var unknown []string
	for name := range params {
		if _, ok := cmd.Params.Lookup(name); !ok {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		if fieldNameRE.MatchString(name) {
			errs.Add("params."+name, "is not a parameter of %s", cmd.ID)
		} else {
			errs.Add("params", "%q is not a parameter of %s", clip(name), cmd.ID)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, nil, err
	}
	argv := make([]string, len(cmd.Argv))
	for i, arg := range cmd.Argv {
		if prefix, name, ok := config.Placeholder(arg); ok && i > 0 {
			v, ok := values[name]
			if !ok { // config.Validate makes this impossible
				return nil, nil, fmt.Errorf("command %s: argv[%d] %s names no parameter", cmd.ID, i, arg)
			}
			arg = prefix + v
		}
		argv[i] = arg
	}
	return argv, values, nil
}

func checkInterface(env Env, name string, lanOnly bool) error {
	if env.Interface == nil {
		return errors.New("cannot be checked: the device's interfaces are not known here")
	}
	return env.Interface(name, lanOnly)
}

// clip shortens a value quoted in a message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
