# devmgr — see README.md. `make run` serves the console; `make test` runs every test.
SHELL := /bin/bash
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# The commit's time stands for the build's, in the binary and in every file of the packages,
# so that one commit always builds the same bytes.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 1)
export SOURCE_DATE_EPOCH
DATE    ?= $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
export PATH := $(PATH):/usr/local/go/bin
# Go 1.26.8's standard library has known vulnerabilities (net/http, crypto/tls, html/template,
# ...; govulncheck lists them); the go command fetches this toolchain from the module proxy.
GOTOOLCHAIN ?= go1.27.3
export GOTOOLCHAIN
PORT    ?= 8443
# staticcheck and govulncheck, pinned in their own module so the product's go.mod stays small.
TOOL    := $(GO) tool -modfile=$(CURDIR)/tools/go.mod
# The Go vulnerability database, built offline from the golang.org/x/vulndb module
# (tools/vulndb). Pinned, so that a run is repeatable; `make lint VULNDB_VERSION=latest`
# checks against the newest reports (then raise the pin).
VULNDB         ?= $(CURDIR)/bin/vulndb
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018

# make deb: the Debian packages, devmgr_<version>_<arch>.deb, in DEB_DIR. The version comes
# from git describe (tools/deb says how) unless DEB_VERSION is given.
DEB_DIR     ?= bin/deb
DEB_ARCHES  ?= amd64 arm64
DEB_VERSION ?=
HOST_ARCH   := $(shell PATH='$(PATH)' $(GO) env GOARCH 2>/dev/null)

.PHONY: all build deb run test test-unit lint bench vet vendor-ui clean

all: build

# A static binary (no cgo: modernc.org/sqlite is pure Go), also used inside the WiFi VM;
# and bin/devmgr-dev, the development runner behind `make run` (never shipped).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/devmgr ./cmd/devmgr
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/devmgr-dev ./cmd/devmgr-dev

# Static binaries for each architecture (and this machine's, whose help becomes the man page),
# packed by tools/deb (nfpm as a library, in a module of its own).
deb:
	rm -f $(DEB_DIR)/devmgr_*.deb
	for arch in $(sort $(HOST_ARCH) $(DEB_ARCHES)); do \
	  CGO_ENABLED=0 GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DEB_DIR)/$$arch/devmgr ./cmd/devmgr || exit 1; \
	done
	cd tools/deb && $(GO) build -trimpath -o $(abspath $(DEB_DIR))/devmgr-deb .
	$(DEB_DIR)/devmgr-deb -repo $(CURDIR) -out $(DEB_DIR) -describe '$(VERSION)' $(if $(DEB_VERSION),-version '$(DEB_VERSION)') \
	  -help-binary $(DEB_DIR)/$(HOST_ARCH)/devmgr $(foreach a,$(DEB_ARCHES),-binary $(a)=$(DEB_DIR)/$(a)/devmgr)

# PORT=9443 serves the console on another port. DEVICE=vm boots the fresh-install VM with the
# package set up instead of the namespace lab (root; the first start takes minutes).
run: build $(if $(filter vm,$(DEVICE)),deb)
	PORT=$(PORT) DEVICE=$(DEVICE) ./scripts/run.sh

# Static checks first: eslint on the console's scripts, go vet, staticcheck, govulncheck against the local database, and the
# tools module's own tests.
lint: node_modules/go.mod
	npx --no-install eslint --max-warnings 0 .
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt: not formatted: $$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	$(TOOL) staticcheck ./...
	cd tools && $(GO) vet ./... && $(GO) test -count=1 ./... && $(GO) run ./vulndb -out $(VULNDB) -version $(VULNDB_VERSION)
	cd tools/deb && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(TOOL) govulncheck -db file://$(VULNDB) ./...

# The VMs run last and alone, one after the other: qemu under TCG needs the cores to itself to
# boot in time. The fresh-system VM installs the packages `make deb` built.
# Tests that run the whole agent (internal/testing/agentproc) run bin/devmgr, as a device does.
test: lint build deb
	DEVMGR_BIN=$(CURDIR)/bin/devmgr $(GO) test -race -shuffle=on -count=1 -timeout 15m $$($(GO) list ./... | grep -v -e /internal/testing/wifivm -e /internal/testing/freshvm)
	WIFIVM_DEVMGR=$(CURDIR)/bin/devmgr $(GO) test -race -shuffle=on -count=1 -timeout 5m -v ./internal/testing/wifivm/
	FRESHVM_DEBS=$(abspath $(DEB_DIR)) $(GO) test -race -shuffle=on -count=1 -timeout 15m -v ./internal/testing/freshvm/

# The fast loop for edits: no root, no namespaces, daemons, Chromium or VM (those tests skip
# under -short, except with CI=true), well under a minute on two cores. Not a substitute for
# `make test`, which runs everything and is what CI runs.
test-unit:
	$(GO) test -short -shuffle=on -count=1 ./...

# Not part of CI. Go micro-benchmarks, then bin/devmgr against the original Flask design, with
# wrk on 127.0.0.1 (bench/cmd/devmgr-bench; as root: agent in a throwaway lab, and wrk,
# python3-flask and gunicorn installed when missing). Results: bench/RESULTS.md.
bench: build
	DEVMGR_BIN=$(CURDIR)/bin/devmgr $(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) build -o bin/devmgr-bench ./bench/cmd/devmgr-bench
	bin/devmgr-bench -bin bin/devmgr -dev bin/devmgr-dev $(BENCHFLAGS)

# eslint (make lint) and axe-core (the browser tests), pinned in package-lock.json.
# The go.mod makes node_modules a module of its own, so that ./... never holds the Go files that
# some npm packages carry.
node_modules/go.mod: package.json package-lock.json
	npm ci --no-audit --no-fund
	echo 'module devmgr.invalid/node_modules' > $@

# Refresh the vendored Bootstrap and htmx from the versions pinned in package.json.
vendor-ui:
	npm ci --no-audit --no-fund
	./scripts/vendor-ui.sh

clean:
	rm -rf bin var
