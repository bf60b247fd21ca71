# alexandria-backup: `make help` lists the targets.
OUT      ?= bin
BIN      := $(OUT)/alexandria-backup
GO       ?= go
SHELL    := /bin/bash
.SHELLFLAGS := -o pipefail -c
GOFLAGS  ?=
# The version --version shows. Without git (a source tarball) it is left
# empty and the program falls back to what Go recorded in the build.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null)

# make install: PREFIX as configure has it; DESTDIR stages for a package.
PREFIX   ?= /usr/local
DESTDIR  ?=
BINDIR   := $(DESTDIR)$(PREFIX)/bin
MANDIR   := $(DESTDIR)$(PREFIX)/share/man/man1
BASHDIR  := $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR   := $(DESTDIR)$(PREFIX)/share/zsh/site-functions
FISHDIR  := $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d

.PHONY: help deps deps-demo build install uninstall image test test-short lint golden bench bench-go bench-run demo man clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

deps: ## install the tools alexandria-backup drives and its tests need (as root), or say what to install
	@bash scripts/deps.sh

deps-demo: # the same for what the demo runs alone (no sshd, systemd, PyYAML or Chromium)
	@bash scripts/deps.sh demo

build: ## build bin/alexandria-backup (OUT=DIR: elsewhere), its version from git describe
	$(GO) build $(GOFLAGS) -ldflags "-X main.version=$(VERSION)" -o $(BIN) .

install: man ## install the program, man page and completions under PREFIX (/usr/local); DESTDIR=DIR stages them
	install -D -m 0755 $(BIN) $(BINDIR)/alexandria-backup
	install -D -m 0644 $(OUT)/alexandria-backup.1 $(MANDIR)/alexandria-backup.1
	install -D -m 0644 $(OUT)/alexandria-backup.bash $(BASHDIR)/alexandria-backup
	install -D -m 0644 $(OUT)/_alexandria-backup $(ZSHDIR)/_alexandria-backup
	install -D -m 0644 $(OUT)/alexandria-backup.fish $(FISHDIR)/alexandria-backup.fish

# The image the generated CronJobs run (schedule kubernetes --image, whose
# default is alexandria-backup:VERSION of the binary: build both with make).
CONTAINER ?= podman
IMAGE     ?= alexandria-backup:$(or $(VERSION),dev)
image: ## build the image the CronJobs run, alexandria-backup:VERSION (CONTAINER=docker for docker)
	$(CONTAINER) build --build-arg VERSION=$(VERSION) -t $(IMAGE) -f Containerfile .

uninstall: ## remove what make install put under PREFIX (same PREFIX and DESTDIR)
	rm -f $(BINDIR)/alexandria-backup $(MANDIR)/alexandria-backup.1 $(BASHDIR)/alexandria-backup \
		$(ZSHDIR)/_alexandria-backup $(FISHDIR)/alexandria-backup.fish

test: deps ## run every test, against the real tools and a real PostgreSQL
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) build -o bin/testreport ./tools/testreport
	$(GO) test -count=1 -timeout 20m -json ./... | bin/testreport

test-short: ## the fast layers only (no real tools)
	$(GO) test -count=1 -short ./...

lint: ## go vet and gofmt
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

golden: ## rewrite the golden argv files after an intended change (each driver keeps its own)
	$(GO) test $(patsubst %/testdata/golden,./%,$(wildcard drivers/*/testdata/golden)) -run Golden -update

bench: bench-go bench-run ## benchmarks (speed and memory targets live here, not in tests)

bench-go: ## the Go micro-benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

# BENCH: quick (about 7 minutes on a shared 2-CPU machine), standard (about
# 20) or full (an hour or more); BENCH_FLAGS: more flags (-files, -db-mb, -pairs, -targets
# ...: go run ./tools/bench -h). The report is Markdown on stdout:
# make bench-run BENCH=standard > bench.md
BENCH       ?= quick
BENCH_FLAGS ?=
bench-run: ## end-to-end: alexandria-backup run against the bare tool commands (BENCH=quick|standard|full)
	@$(GO) build -o bin/bench ./tools/bench
	@bin/bench -preset $(BENCH) $(BENCH_FLAGS)

demo: deps-demo build ## make a sandbox (sample library, throwaway PostgreSQL), back it up, drill it, lose it and recover it
	$(GO) build -o bin/demo ./tools/demo
	bin/demo -bin $(BIN) -dir sandbox

man: build ## write the man page and shell completions into bin/
	$(BIN) man > $(OUT)/alexandria-backup.1
	$(BIN) completion bash > $(OUT)/alexandria-backup.bash
	$(BIN) completion zsh > $(OUT)/_alexandria-backup
	$(BIN) completion fish > $(OUT)/alexandria-backup.fish

clean: ## remove build output and the sandbox
	rm -rf bin sandbox
