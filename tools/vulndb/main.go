// Command vulndb builds a local copy of the Go vulnerability database for
// `govulncheck -db file://DIR`, from the golang.org/x/vulndb module as the
// Go module proxy serves it: that module commits every report as OSV JSON
// (data/osv/GO-YYYY-NNNN.json), which is all the database holds. The
// machines that run `make lint` reach the module proxy but not the
// database's own server.
//
// The layout written is the database's v1 API, as golang.org/x/vulndb's
// internal/database writes it and golang.org/x/vuln's client reads it:
//
//	DIR/index/db.json       {"modified": time}
//	DIR/index/modules.json  [{"path", "vulns": [{"id", "modified", "fixed"}]}]
//	DIR/index/vulns.json    [{"id", "modified", "aliases"}]
//	DIR/ID/GO-YYYY-NNNN.json
//
// DIR/version names the vulndb module version it was built from; a run that
// finds the same version there does nothing.
//
// Usage: go run ./vulndb -out DIR [-version latest]   (from tools/)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// vulndbModule is the module whose data/osv holds the reports.
const vulndbModule = "golang.org/x/vulndb"

func main() {
	out := flag.String("out", "", "directory to write the database to (replaced whole)")
	version := flag.String("version", "latest", "version of "+vulndbModule+" to build from (a module query)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := run(ctx, *out, *version); err != nil {
		log.Fatalf("vulndb: %v", err)
	}
}

func run(ctx context.Context, out, query string) error {
	mod, err := download(ctx, vulndbModule+"@"+query)
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(out, "version")); err == nil && strings.TrimSpace(string(b)) == mod.Version {
		if _, err := os.Stat(filepath.Join(out, "index", "modules.json")); err == nil {
			log.Printf("vulndb: %s is up to date (%s %s)", out, vulndbModule, mod.Version)
			return nil
		}
	}
	var info struct{ Time time.Time }
	if b, err := os.ReadFile(mod.Info); err != nil {
		return fmt.Errorf("reading module info: %w", err)
	} else if err := json.Unmarshal(b, &info); err != nil {
		return fmt.Errorf("parsing module info %s: %w", mod.Info, err)
	}
	n, err := build(filepath.Join(mod.Dir, "data", "osv"), out, mod.Version, info.Time)
	if err != nil {
		return err
	}
	log.Printf("vulndb: wrote %d entries to %s (%s %s)", n, out, vulndbModule, mod.Version)
	return nil
}

type module struct {
	Path, Version, Info, Dir, Error string
}

// download fetches a module through the go command (GOPROXY, GOSUMDB and
// the module cache as configured) and returns where it was extracted.
func download(ctx context.Context, query string) (module, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return module{}, fmt.Errorf("finding the go command: %w", err)
	}
	// Outside any module, so that no go.mod is read or changed.
	dir, err := os.MkdirTemp("", "vulndb-")
	if err != nil {
		return module{}, fmt.Errorf("making a work directory: %w", err)
	}
	defer os.RemoveAll(dir)
	argv := []string{goBin, "mod", "download", "-json", query}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GOFLAGS=", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	var m module
	if jerr := json.Unmarshal(b, &m); jerr == nil && m.Error != "" {
		return module{}, fmt.Errorf("downloading %s: %s", query, m.Error)
	}
	if err != nil {
		return module{}, fmt.Errorf("running %q: %w: %s", argv, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return module{}, fmt.Errorf("parsing output of %q: %w", argv, err)
	}
	if m.Dir == "" || m.Version == "" {
		return module{}, fmt.Errorf("%q named no directory or version: %s", argv, b)
	}
	return m, nil
}

// entry is the part of an OSV report that the indexes need.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
		Ranges []osvRange `json:"ranges"`
	} `json:"affected"`
}

type osvRange struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced string `json:"introduced,omitempty"`
		Fixed      string `json:"fixed,omitempty"`
	} `json:"events"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type moduleIndex struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vulnIndex struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

// build indexes the OSV files of src into a new database that replaces out
// (written beside it, then renamed into place). dbTime is the oldest
// modification time db.json may claim (the source's own time: the
// committed reports carry no modification time).
func build(src, out, version string, dbTime time.Time) (int, error) {
	files, err := filepath.Glob(filepath.Join(src, "*.json"))
	if err != nil {
		return 0, fmt.Errorf("listing %s: %w", src, err)
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no OSV reports in %s", src)
	}
	slices.Sort(files)

	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return 0, fmt.Errorf("making %s: %w", filepath.Dir(out), err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+"-")
	if err != nil {
		return 0, fmt.Errorf("making a directory beside %s: %w", out, err)
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"index", "ID"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			return 0, fmt.Errorf("making %s: %w", d, err)
		}
	}

	modules := map[string]*moduleIndex{}
	var vulns []vulnIndex
	modified := dbTime.UTC()
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return 0, fmt.Errorf("reading report: %w", err)
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return 0, fmt.Errorf("parsing report %s: %w", f, err)
		}
		if e.ID == "" || filepath.Base(f) != e.ID+".json" {
			return 0, fmt.Errorf("report %s has id %q, want one matching its file name", f, e.ID)
		}
		if e.Modified.After(modified) {
			modified = e.Modified.UTC()
		}
		vulns = append(vulns, vulnIndex{ID: e.ID, Modified: e.Modified.UTC(), Aliases: e.Aliases})
		for _, a := range e.Affected {
			path := a.Package.Name
			if path == "" {
				return 0, fmt.Errorf("report %s names an affected package without a module path", f)
			}
			m := modules[path]
			if m == nil {
				m = &moduleIndex{Path: path, Vulns: []moduleVuln{}}
				modules[path] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified.UTC(), Fixed: latestFixed(a.Ranges)})
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return 0, fmt.Errorf("compacting report %s: %w", f, err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "ID", e.ID+".json"), compact.Bytes(), 0o644); err != nil {
			return 0, fmt.Errorf("writing entry %s: %w", e.ID, err)
		}
	}

	var mods []*moduleIndex
	for _, m := range modules {
		slices.SortStableFunc(m.Vulns, func(a, b moduleVuln) int { return strings.Compare(a.ID, b.ID) })
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b *moduleIndex) int { return strings.Compare(a.Path, b.Path) })
	for name, v := range map[string]any{
		"db.json":      map[string]time.Time{"modified": modified},
		"modules.json": mods,
		"vulns.json":   vulns,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, fmt.Errorf("encoding %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "index", name), b, 0o644); err != nil {
			return 0, fmt.Errorf("writing %s: %w", name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "version"), []byte(version+"\n"), 0o644); err != nil {
		return 0, fmt.Errorf("writing version: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 0, fmt.Errorf("opening %s to readers: %w", tmp, err)
	}
	if err := os.RemoveAll(out); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("removing the old database: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, fmt.Errorf("moving the database into place: %w", err)
	}
	return len(vulns), nil
}

// latestFixed is the version past which no range of a module is affected:
// the highest SEMVER fix, or "" when a range is re-introduced after it (as
// golang.org/x/vulndb's osvutils.LatestFixed). OSV versions have no "v".
func latestFixed(ranges []osvRange) string {
	var fixed string
	before := func(a, b string) bool { return a == "" || semver.Compare("v"+a, "v"+b) < 0 }
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		for _, e := range r.Events {
			if e.Fixed != "" && before(fixed, e.Fixed) {
				fixed = e.Fixed
			}
		}
		for _, e := range r.Events {
			if e.Introduced != "" && e.Introduced != "0" && before(fixed, e.Introduced) {
				fixed = ""
				break
			}
		}
	}
	return fixed
}
