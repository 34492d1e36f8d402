// Command deb builds devmgr's Debian packages, devmgr_<version>_<arch>.deb,
// with nfpm (github.com/goreleaser/nfpm/v2) used as a library: a kept,
// widely used Go packager that writes the ar/tar/control layout, md5sums and
// conffiles itself, so that no archive is assembled by hand and no
// dpkg-deb is needed on the build machine. It lives in a module of its own
// (nfpm brings go-git and more) so that the product's go.mod stays small.
//
// The units, sysusers.d and tmpfiles.d entries it packs are rendered by
// internal/provision (PackageFiles) for the default config, the maintainer
// scripts are deploy/debian/* rendered with provision's and device's paths,
// and the man page is made from the help of a devmgr binary the build
// machine can run. Every time in the package is SOURCE_DATE_EPOCH (the
// commit's time, from the Makefile), so that the same commit gives the same
// bytes.
//
//	deb -repo DIR -out DIR -describe $(git describe --tags --always --dirty) \
//	    -help-binary bin/devmgr -binary amd64=PATH -binary arm64=PATH
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	var o Options
	var binaries binaryFlags
	epoch := flag.String("epoch", os.Getenv("SOURCE_DATE_EPOCH"), "time of every file in the package, in seconds since 1970 (default $SOURCE_DATE_EPOCH)")
	describe := flag.String("describe", "", "`git describe --tags --always --dirty` of the build, for the package version")
	flag.StringVar(&o.Version, "version", "", "Debian version of the package (default: made from -describe and -epoch)")
	flag.StringVar(&o.Repo, "repo", ".", "the repository's root (deploy/ is read from it)")
	flag.StringVar(&o.OutDir, "out", ".", "directory the packages are written to")
	flag.StringVar(&o.HelpBinary, "help-binary", "", "a devmgr this machine can run, whose help becomes the man page")
	flag.Var(&binaries, "binary", "ARCH=PATH of the static devmgr to package for ARCH (amd64, arm64); repeatable")
	flag.Parse()
	if err := run(o, binaries, *epoch, *describe); err != nil {
		fmt.Fprintln(os.Stderr, "deb:", err)
		os.Exit(1)
	}
}

func run(o Options, binaries binaryFlags, epoch, describe string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("-epoch (SOURCE_DATE_EPOCH) %q is not a number of seconds", epoch)
	}
	o.Time = time.Unix(sec, 0).UTC()
	if o.Version == "" {
		if o.Version, err = DebVersion(describe, o.Time); err != nil {
			return err
		}
	}
	o.Binaries = binaries
	paths, err := Build(ctx, o)
	for _, p := range paths {
		fmt.Println(p)
	}
	return err
}

// binaryFlags collects -binary ARCH=PATH.
type binaryFlags []Binary

func (b *binaryFlags) String() string { return fmt.Sprint(*b) }

func (b *binaryFlags) Set(s string) error {
	arch, path, ok := strings.Cut(s, "=")
	if !ok || arch == "" || path == "" {
		return fmt.Errorf("%q is not ARCH=PATH", s)
	}
	*b = append(*b, Binary{Arch: arch, Path: path})
	return nil
}
