# alexandria-backup: `make help` lists the targets.
BIN      := bin/alexandria-backup
GO       ?= go
SHELL    := /bin/bash
.SHELLFLAGS := -o pipefail -c
GOFLAGS  ?=
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: help deps build test test-short lint golden bench bench-go bench-run demo man clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

deps: ## install the tools alexandria-backup drives (as root), or say what to install
	@bash scripts/deps.sh

build: ## build bin/alexandria-backup
	$(GO) build $(GOFLAGS) -ldflags "-X main.version=$(VERSION)" -o $(BIN) .

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

demo: deps build ## make a sandbox (sample library, throwaway PostgreSQL), back it up, drill it, lose it and recover it
	$(GO) build -o bin/demo ./tools/demo
	bin/demo -bin $(BIN) -dir sandbox

man: build ## write the man page and shell completions into bin/
	$(BIN) man > bin/alexandria-backup.1
	$(BIN) completion bash > bin/alexandria-backup.bash
	$(BIN) completion zsh > bin/_alexandria-backup
	$(BIN) completion fish > bin/alexandria-backup.fish

clean: ## remove build output and the sandbox
	rm -rf bin sandbox
