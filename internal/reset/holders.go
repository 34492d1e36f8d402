package reset

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/devmgr/devmgr/internal/agent/api"
)

// maxUses bounds what a holder lists of its uses.
const maxUses = 4

// Holders lists the processes that use something under dir: their
// working directory, root, executable, open files and mapped files, read
// from proc (/proc). Processes that end meanwhile are passed over; what
// cannot be read (another namespace's process, for one) is left out.
func Holders(proc, dir string) ([]api.ResetHolder, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	var out []api.ResetHolder
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		pd := filepath.Join(proc, e.Name())
		uses := processUses(pd, dir)
		if len(uses) == 0 {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join(pd, "comm"))
		h := api.ResetHolder{PID: pid, Command: strings.TrimSpace(string(comm)), Uses: uses}
		if len(h.Uses) > maxUses {
			h.Uses = append(h.Uses[:maxUses], fmt.Sprintf("and %d more", len(uses)-maxUses))
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b api.ResetHolder) int { return a.PID - b.PID })
	return out, nil
}

// processUses lists how the process at pd (/proc/PID) uses dir.
func processUses(pd, dir string) []string {
	var uses []string
	for _, l := range []string{"cwd", "root", "exe"} {
		if t, err := os.Readlink(filepath.Join(pd, l)); err == nil && under(t, dir) {
			uses = append(uses, l+": "+t)
		}
	}
	fds, _ := os.ReadDir(filepath.Join(pd, "fd"))
	for _, fd := range fds {
		if t, err := os.Readlink(filepath.Join(pd, "fd", fd.Name())); err == nil && under(t, dir) {
			uses = append(uses, "fd "+fd.Name()+": "+t)
		}
	}
	if f, err := os.Open(filepath.Join(pd, "maps")); err == nil {
		uses = append(uses, mappedUnder(f, dir)...)
		f.Close()
	}
	return uses
}

// mappedUnder lists the files under dir that a maps file (proc(5)) names,
// each once.
func mappedUnder(r io.Reader, dir string) []string {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// address perms offset dev inode pathname: the path is the rest
		// after the fifth field, and may hold spaces.
		f := strings.SplitN(sc.Text(), " ", 6)
		if len(f) < 6 {
			continue
		}
		p := strings.TrimSuffix(strings.TrimLeft(f[5], " "), " (deleted)")
		if under(p, dir) && !slices.Contains(out, "mapped: "+p) {
			out = append(out, "mapped: "+p)
		}
	}
	return out
}

// under reports whether the absolute path p is dir or below it.
func under(p, dir string) bool {
	return strings.HasPrefix(p, "/") && within(strings.TrimSuffix(p, " (deleted)"), dir)
}

// holdersText says who holds what, for an error message.
func holdersText(hs []api.ResetHolder) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = fmt.Sprintf("%s (pid %d: %s)", h.Command, h.PID, strings.Join(h.Uses, ", "))
	}
	return strings.Join(parts, "; ")
}
