package vm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// DefaultCacheDir keeps the downloaded kernel package and its prepared
// modules between runs.
const DefaultCacheDir = "/var/cache/devmgr-test"

// Modules names the kernel modules a VM loads, in load order, with their
// parameters; PrepareKernel adds their dependencies (modprobe
// --show-depends) before each.
type Modules struct {
	Names  []string
	Params map[string]string // appended to a module's insmod line
}

// preparedLayout changes when a prepared kernel directory gains files, so
// that caches made by older code are prepared anew.
const preparedLayout = "2"

// key names the module selection, so a changed list prepares the kernel
// anew instead of reusing a cache made for another list.
func (m Modules) key() string {
	h := sha256.New()
	fmt.Fprintf(h, "layout %s\n", preparedLayout)
	for _, n := range m.Names {
		fmt.Fprintf(h, "%s %s\n", n, m.Params[n])
	}
	return hex.EncodeToString(h.Sum(nil))[:8]
}

// Kernel is a Debian kernel prepared for a VM.
type Kernel struct {
	Version string // e.g. 6.1.0-56-amd64
	Vmlinuz string // path of the kernel image
	// Dir is the prepared directory: modules/*.ko, and the kernel's
	// modules.builtin and modules.builtin.modinfo (for depmod in an image
	// whose modprobe must know the built-in modules).
	Dir    string
	Insmod []Module // load order
}

// Module is one insmod step.
type Module struct {
	File   string // base name in Dir/modules, e.g. cfg80211.ko
	Params string // e.g. radios=3
}

// PrepareKernel returns Debian's current amd64 kernel, prepared in cacheDir
// for mods: the package is downloaded once (keyed by its file name),
// unpacked, its module dependencies computed with depmod and modprobe, and
// only the modules mods needs kept, decompressed. Each module set has its
// own prepared directory, so VMs with different needs share the download.
// When apt cannot say which kernel is current (no package lists, say), the
// newest kernel prepared before for mods is used.
func PrepareKernel(ctx context.Context, run Runner, cacheDir string, mods Modules) (Kernel, error) {
	pkg, debName, err := currentKernel(ctx, run)
	if err != nil {
		if k, ok := newestPrepared(cacheDir, mods); ok {
			return k, nil
		}
		return Kernel{}, err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return Kernel{}, fmt.Errorf("preparing kernel cache: %w", err)
	}
	prepared := filepath.Join(cacheDir, strings.TrimSuffix(debName, ".deb")+preparedSuffix(mods))
	if k, err := loadPrepared(prepared); err == nil {
		return k, nil
	}
	deb := filepath.Join(cacheDir, debName)
	if _, err := os.Stat(deb); err != nil {
		if _, err := run.Run(ctx, cacheDir, "apt-get", "download", "-o", "APT::Sandbox::User=root", pkg); err != nil {
			return Kernel{}, fmt.Errorf("downloading kernel: %w", err)
		}
		if _, err := os.Stat(deb); err != nil {
			return Kernel{}, fmt.Errorf("downloading kernel: apt-get download left no %s: %w", debName, err)
		}
	}
	// Preparations for other module sets stay: another VM test uses them.
	if err := prepareKernel(ctx, run, deb, prepared, mods); err != nil {
		return Kernel{}, err
	}
	return loadPrepared(prepared)
}

// preparedSuffix ends the name of a prepared kernel's directory.
func preparedSuffix(mods Modules) string { return ".modules-" + mods.key() }

var kernelDepRE = regexp.MustCompile(`(?m)^Depends:.*?\b(linux-image-[0-9][^ ,]*-amd64)(?: \(= ([^)]+)\))?`)

// currentKernel finds the linux-image-6.1.0-NN-amd64 package that the
// metapackage linux-image-amd64 depends on (the ABI number changes with
// security updates) and the file name apt-get download saves it as. One
// `apt-cache show` gives both; each apt run costs seconds.
func currentKernel(ctx context.Context, run Runner) (pkg, debName string, err error) {
	out, err := run.Run(ctx, "", "apt-cache", "show", "--no-all-versions", "linux-image-amd64")
	if err != nil {
		return "", "", fmt.Errorf("finding the current kernel package: %w", err)
	}
	m := kernelDepRE.FindSubmatch(out)
	if m == nil {
		return "", "", fmt.Errorf("finding the current kernel package: no linux-image dependency in %q", tail(string(out), 500))
	}
	pkg = string(m[1])
	if v := string(m[2]); v != "" {
		// apt-get download names the file NAME_VERSION_ARCH.deb, with the
		// epoch's colon escaped.
		return pkg, pkg + "_" + strings.ReplaceAll(v, ":", "%3a") + "_amd64.deb", nil
	}
	debName, err = debFileName(ctx, run, pkg)
	return pkg, debName, err
}

// debFileName returns the file name apt-get download will save pkg as.
func debFileName(ctx context.Context, run Runner, pkg string) (string, error) {
	out, err := run.Run(ctx, "", "apt-get", "download", "--print-uris", pkg)
	if err != nil {
		return "", fmt.Errorf("finding the file name of %s: %w", pkg, err)
	}
	// 'URL' NAME SIZE HASH
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && strings.HasPrefix(f[0], "'") && strings.HasSuffix(f[1], ".deb") {
			return filepath.Base(f[1]), nil
		}
	}
	return "", fmt.Errorf("finding the file name of %s: no .deb in %q", pkg, out)
}

// newestPrepared is the most recently prepared kernel in cacheDir.
func newestPrepared(cacheDir string, mods Modules) (Kernel, bool) {
	dirs, _ := filepath.Glob(filepath.Join(cacheDir, "linux-image-*"+preparedSuffix(mods)))
	var best Kernel
	var bestTime int64
	for _, d := range dirs {
		st, err := os.Stat(filepath.Join(d, preparedReady))
		if err != nil {
			continue
		}
		if k, err := loadPrepared(d); err == nil && st.ModTime().UnixNano() > bestTime {
			best, bestTime = k, st.ModTime().UnixNano()
		}
	}
	return best, bestTime != 0
}

const (
	preparedOrder = "insmod.order"
	preparedReady = "READY"
)

func loadPrepared(dir string) (Kernel, error) {
	if _, err := os.Stat(filepath.Join(dir, preparedReady)); err != nil {
		return Kernel{}, fmt.Errorf("prepared kernel %s: %w", dir, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, preparedOrder))
	if err != nil {
		return Kernel{}, fmt.Errorf("prepared kernel %s: %w", dir, err)
	}
	k := Kernel{Dir: dir, Vmlinuz: filepath.Join(dir, "vmlinuz")}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, " ", 2)
		if len(f) == 0 || f[0] == "" {
			continue
		}
		m := Module{File: f[0]}
		if len(f) == 2 {
			m.Params = f[1]
		}
		k.Insmod = append(k.Insmod, m)
	}
	v, err := os.ReadFile(filepath.Join(dir, "version"))
	if err != nil {
		return Kernel{}, fmt.Errorf("prepared kernel %s: %w", dir, err)
	}
	k.Version = strings.TrimSpace(string(v))
	if len(k.Insmod) == 0 {
		return Kernel{}, fmt.Errorf("prepared kernel %s: no modules", dir)
	}
	return k, nil
}

// prepareKernel unpacks deb and fills dst with vmlinuz, version, the
// modules mods needs (decompressed), their insmod order and the kernel's
// lists of built-in modules.
func prepareKernel(ctx context.Context, run Runner, deb, dst string, mods Modules) error {
	cacheDir := filepath.Dir(dst)
	x, err := os.MkdirTemp(cacheDir, "unpack-")
	if err != nil {
		return fmt.Errorf("unpacking kernel: %w", err)
	}
	defer os.RemoveAll(x)
	if _, err := run.Run(ctx, "", "dpkg-deb", "-x", deb, x); err != nil {
		return fmt.Errorf("unpacking kernel: %w", err)
	}
	vmlinuz, err := filepath.Glob(filepath.Join(x, "boot", "vmlinuz-*"))
	if err != nil || len(vmlinuz) != 1 {
		return fmt.Errorf("unpacking kernel %s: want one boot/vmlinuz-*, found %v", deb, vmlinuz)
	}
	version := strings.TrimPrefix(filepath.Base(vmlinuz[0]), "vmlinuz-")
	if _, err := run.Run(ctx, "", "depmod", "-b", x, version); err != nil {
		return fmt.Errorf("computing module dependencies: %w", err)
	}
	type step struct{ src, params string }
	var order []step
	seen := map[string]bool{}
	for _, m := range mods.Names {
		out, err := run.Run(ctx, "", "modprobe", "-d", x, "-S", version, "--show-depends", m)
		if err != nil {
			return fmt.Errorf("finding the load order of %s: %w", m, err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 || f[0] != "insmod" { // "builtin NAME" needs nothing
				continue
			}
			if seen[f[1]] {
				continue
			}
			seen[f[1]] = true
			order = append(order, step{src: f[1], params: strings.Join(f[2:], " ")})
		}
	}
	if len(order) == 0 {
		return fmt.Errorf("finding module load order in %s: no modules", deb)
	}
	// Prepared in a directory of its own and renamed into place, so that
	// concurrent runs never see (or remove) half a preparation.
	tmp, err := os.MkdirTemp(cacheDir, "prepare-")
	if err != nil {
		return fmt.Errorf("preparing kernel: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("preparing kernel: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "modules"), 0o755); err != nil {
		return fmt.Errorf("preparing kernel: %w", err)
	}
	var list strings.Builder
	for _, s := range order {
		data, name, err := readModule(ctx, run, s.src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, "modules", name), data, 0o644); err != nil {
			return fmt.Errorf("preparing kernel: %w", err)
		}
		params := s.params
		if p := mods.Params[strings.TrimSuffix(name, ".ko")]; p != "" {
			params = strings.TrimSpace(params + " " + p)
		}
		list.WriteString(strings.TrimSpace(name + " " + params))
		list.WriteString("\n")
	}
	if err := copyFile(vmlinuz[0], filepath.Join(tmp, "vmlinuz")); err != nil {
		return fmt.Errorf("preparing kernel: %w", err)
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo"} {
		if err := copyFile(filepath.Join(x, "lib", "modules", version, f), filepath.Join(tmp, f)); err != nil {
			return fmt.Errorf("preparing kernel: %w", err)
		}
	}
	for name, data := range map[string]string{
		preparedOrder: list.String(),
		"version":     version + "\n",
		preparedReady: "",
	} {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(data), 0o644); err != nil {
			return fmt.Errorf("preparing kernel: %w", err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		if _, lerr := loadPrepared(dst); lerr == nil {
			return nil // another run prepared it meanwhile
		}
		if err := os.RemoveAll(dst); err != nil {
			return fmt.Errorf("preparing kernel: %w", err)
		}
		if err := os.Rename(tmp, dst); err != nil {
			return fmt.Errorf("preparing kernel: %w", err)
		}
	}
	return nil
}

// readModule returns a module's contents, decompressed on the host (the
// VM's busybox insmod may not handle compressed modules), and its .ko name.
func readModule(ctx context.Context, run Runner, src string) ([]byte, string, error) {
	base := filepath.Base(src)
	var tool string
	switch {
	case strings.HasSuffix(base, ".ko"):
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, "", fmt.Errorf("reading module: %w", err)
		}
		return b, base, nil
	case strings.HasSuffix(base, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(base, ".ko.zst"):
		tool = "zstd"
	case strings.HasSuffix(base, ".ko.gz"):
		tool = "gzip"
	default:
		return nil, "", fmt.Errorf("reading module %s: unknown compression", src)
	}
	b, err := run.Run(ctx, "", tool, "-dc", src)
	if err != nil {
		return nil, "", fmt.Errorf("decompressing module: %w", err)
	}
	return b, base[:strings.Index(base, ".ko")+3], nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
