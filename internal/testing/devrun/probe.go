package devrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
)

// ProbeResult is what Probe prints.
type ProbeResult struct {
	UID        int             `json:"uid"`
	Health     api.Health      `json:"health"`
	Interfaces []api.Interface `json:"interfaces"`
}

// Probe asks the agent on socket for its health and interfaces as the
// calling user, and prints the answer as JSON on w.
func Probe(ctx context.Context, socket string, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := agentclient.New(socket)
	defer c.Close()
	p := ProbeResult{UID: os.Getuid()}
	var err error
	if p.Health, err = c.Health(ctx); err != nil {
		return err
	}
	a := api.Actor{User: "dev-probe", Role: auth.Viewer, Source: "local"}
	if p.Interfaces, err = c.Interfaces(ctx, a); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// probeAs runs `Self probe` as cred: the path the console takes to the
// agent (socket directory, group, peer credentials).
func (r *runner) probeAs(ctx context.Context, cred *syscall.Credential, socket string) ([]string, error) {
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(pctx, r.Self, "probe", "--socket", socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	stderr := &prefixWriter{mu: &r.outMu, w: r.Err, prefix: "probe | "}
	cmd.Stderr = stderr
	b, err := cmd.Output()
	stderr.flush()
	if err != nil {
		return nil, fmt.Errorf("user %s cannot use the agent socket %s: %w", r.User, rel(socket), err)
	}
	var p ProbeResult
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("reading the probe's answer %q: %w", b, err)
	}
	var names []string
	for _, i := range p.Interfaces {
		names = append(names, i.Name)
	}
	return names, nil
}
