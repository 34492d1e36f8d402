# devmgr — see README.md. `make run` serves the console; `make test` runs every test.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
export PATH := $(PATH):/usr/local/go/bin

.PHONY: all build run test bench vet vendor-ui clean

all: build

# A static binary (no cgo: modernc.org/sqlite is pure Go), also used inside the WiFi VM.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/devmgr ./cmd/devmgr

run: build
	./scripts/run.sh

test: build
	$(GO) vet ./...
	WIFIVM_DEVMGR=$(CURDIR)/bin/devmgr $(GO) test -race -shuffle=on -count=1 -timeout 18m ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Refresh the vendored Bootstrap and htmx from the versions pinned in package.json.
vendor-ui:
	npm ci --no-audit --no-fund
	./scripts/vendor-ui.sh

clean:
	rm -rf bin var
