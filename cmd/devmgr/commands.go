package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
)

// newCommandsCmd is `devmgr commands`: the command catalog, for people on
// the device's shell, through the agent as the console uses it.
func newCommandsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "commands",
		Short: "list and run the commands of the catalog (config commands) through the agent",
		Long: "The agent runs the catalog's commands (config commands) and nothing else; these\n" +
			"ask it over agent.socket, which only root and the console's user (web.user) may\n" +
			"open. The runs are recorded in the agent's history and audit log as by user\n" +
			"cli:NAME (your login name) with the admin role, from \"cli\".",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "list the commands with their parameters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			ag := agentclient.New(cfg.Agent.Socket)
			defer ag.Close()
			return runCommandsList(cmd.Context(), cmd.OutOrStdout(), ag, cliActor(), cfg.Agent.Socket)
		},
	}, &cobra.Command{
		Use:   "run ID [NAME=VALUE ...]",
		Short: "run a command, its output streamed here, its exit code passed on",
		Long: "Run command ID of the catalog with its parameters as NAME=VALUE arguments\n" +
			"(left out: their defaults). Its output is printed as it comes and devmgr exits\n" +
			"with its exit code; a run that timed out or was cancelled exits 1. Ctrl-C\n" +
			"cancels the run.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			ag := agentclient.New(cfg.Agent.Socket)
			defer ag.Close()
			return runCommandsRun(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), ag, cliActor(), cfg.Agent.Socket, args[0], args[1:])
		},
	})
	return cmd
}

// commandsAgent is what `devmgr commands` asks of the agent.
type commandsAgent interface {
	Commands(ctx context.Context, a api.Actor) ([]api.Command, error)
	StartRun(ctx context.Context, a api.Actor, id string, params map[string]string) (api.RunStarted, error)
	FollowRun(ctx context.Context, a api.Actor, id int64, after int64, line func(seq int64, text string)) (api.RunResult, error)
	CancelRun(ctx context.Context, a api.Actor, id int64) (api.Run, error)
}

// cliActor is who runs commands from the shell: whoever may open the
// socket may do anything an admin may, so the role is admin.
func cliActor() api.Actor {
	name := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return api.Actor{User: "cli:" + name, Role: auth.Admin, Source: "cli"}
}

// agentReachError says why the agent cannot be asked, for a person at a
// shell: the socket is root's and the console user's only.
func agentReachError(err error, socket string) error {
	e, isAPI := api.AsError(err)
	switch {
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || isAPI && e.Status == http.StatusForbidden && strings.HasPrefix(e.Message, "uid "):
		return fmt.Errorf("the agent's socket %s is for root and the console's user (web.user) only: run this as root (sudo)", socket)
	case agentclient.Unavailable(err):
		return fmt.Errorf("the devmgr agent is not running (no answer on %s): start it (systemctl start devmgr-agent)", socket)
	}
	return err
}

func runCommandsList(ctx context.Context, w io.Writer, ag commandsAgent, a api.Actor, socket string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmds, err := ag.Commands(ctx, a)
	if err != nil {
		return agentReachError(err, socket)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTITLE\tPARAMETERS")
	for _, c := range cmds {
		var ps []string
		for _, p := range c.Params {
			ps = append(ps, paramUsage(p))
		}
		title := c.Title
		if c.Confirm {
			title += " (asks first on the page)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ID, title, strings.Join(ps, " "))
	}
	return tw.Flush()
}

// paramUsage is NAME=<type bounds>, and the default: lines=<int 10..500, default 100>.
func paramUsage(p api.CommandParam) string {
	what := p.Type
	switch {
	case p.Min != nil && p.Max != nil:
		what += fmt.Sprintf(" %d..%d", *p.Min, *p.Max)
	case p.Pattern != "":
		what += " " + p.Pattern
	}
	if len(p.Choices) > 0 {
		what += ": " + strings.Join(p.Choices, "|")
	}
	if p.Default != "" {
		what += ", default " + p.Default
	}
	return p.Name + "=<" + what + ">"
}

func runCommandsRun(ctx context.Context, stdout, stderr io.Writer, ag commandsAgent, a api.Actor, socket, id string, args []string) error {
	params := map[string]string{}
	for _, arg := range args {
		k, v, ok := strings.Cut(arg, "=")
		if !ok || k == "" {
			return fmt.Errorf("argument %q is not NAME=VALUE", arg)
		}
		params[k] = v
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := ag.StartRun(sctx, a, id, params)
	cancel()
	if err != nil {
		return runRefused(err, socket, id)
	}
	res, err := ag.FollowRun(ctx, a, st.RunID, 0, func(_ int64, text string) { fmt.Fprintln(stdout, text) })
	if err != nil && ctx.Err() != nil {
		// Ctrl-C: the run stops too.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, cerr := ag.CancelRun(cctx, a, st.RunID); cerr != nil && !api.IsStatus(cerr, http.StatusConflict) {
			return fmt.Errorf("cancelling run %d of %s: %w", st.RunID, id, agentReachError(cerr, socket))
		}
		fmt.Fprintf(stderr, "devmgr: run %d of %s canceled\n", st.RunID, id)
		return exitCode(130)
	}
	if err != nil {
		return fmt.Errorf("following run %d of %s: %w", st.RunID, id, agentReachError(err, socket))
	}
	if res.Truncated {
		fmt.Fprintf(stderr, "devmgr: run %d of %s: output truncated at the command's limit (see devmgr's history for what was kept)\n", st.RunID, id)
	}
	switch {
	case res.Status == api.RunOK:
		return nil
	case res.ExitCode > 0:
		return exitCode(res.ExitCode) // as if the program had run here
	}
	why := res.Status
	if res.Error != "" {
		why = res.Error
	}
	return fmt.Errorf("run %d of %s: %s", res.RunID, id, why)
}

// runRefused words the agent's refusal of a run: every bad parameter on
// a line of its own, by its name.
func runRefused(err error, socket, id string) error {
	err = agentReachError(err, socket)
	e, ok := api.AsError(err)
	switch {
	case !ok:
		return fmt.Errorf("running %s: %w", id, err)
	case len(e.Fields) == 0:
		return fmt.Errorf("running %s: %s", id, e.Message)
	}
	msgs := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		msgs[i] = strings.TrimPrefix(f.Field, api.ParamsField) + ": " + f.Message
	}
	return fmt.Errorf("running %s: %s", id, strings.Join(msgs, "\n  "))
}
