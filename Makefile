# stepper — see README.md. Every target works on a fresh machine: `make test`
# installs the pinned tools it needs first (cached under ~/.cache/stepper).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
BIN       ?= bin/stepper
TOOLS_BIN := $(HOME)/.cache/stepper/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS   := -s -w -X github.com/stepper-cd/stepper/internal/cli.Version=$(VERSION) -X github.com/stepper-cd/stepper/internal/cli.Commit=$(COMMIT)
# The whole suite runs against real components; on 2 cores give it room.
TEST_TIMEOUT ?= 40m

export PATH := $(TOOLS_BIN):$(PATH)
export GOTOOLCHAIN := local
# stepper is built static, without cgo. kustomize's plugin loader (through
# kyaml) imports Go's plugin package, which with cgo forces the external
# linker and a dynamically linked binary: 147 MB against 110, linking twice
# as slow, 94 MiB peak at start against 56, and tied to the build machine's
# libc. The tests' builds (and their go build of stepper) follow it.
export CGO_ENABLED ?= 0
# Debian's Groovy 2.4 (the Jenkins pipeline line) runs on Debian's OpenJDK 17.
export JAVA_HOME ?= /usr/lib/jvm/java-17-openjdk-amd64

.PHONY: build demo test fuzz fuzz-short bench lint tools local-up local-down clean

build: ## the stepper binary in bin/
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/stepper

demo: tools build ## the whole flow on the sample app against a local clone of the eHealth platform (CHAIN=vendor for the vendor chain; PLATFORM=shop or gov for the others)
	$(GO) run ./internal/demo/cmd/demo -bin $(BIN) -platform=$(or $(PLATFORM),ehealth) -chain=$(CHAIN)

tools: ## install every pinned tool the tests and the platform need
	bash .ci/tools.sh

test: tools ## all tests, against real components
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
ifneq ($(FUZZ_SHORT),0)
	$(MAKE) --no-print-directory fuzz-short
endif

# Fuzz targets of the parsers that read untrusted input, as package:Target.
# `go test` (so `make test`) runs their seed corpora; fuzz-short fuzzes each
# for FUZZTIME_SHORT and runs at the end of `make test` (FUZZ_SHORT=0 skips
# it); fuzz gives each FUZZTIME. A failing input is saved under the
# package's testdata/fuzz/<Target>/: commit it with the fix, so that plain
# `go test` replays it from then on.
FUZZ_TARGETS := \
	./internal/report:FuzzReadJSON \
	./internal/signing:FuzzParsePublicKey \
	./internal/signing:FuzzDSSEEnvelope \
	./internal/signing:FuzzBundle \
	./internal/signing:FuzzSimpleSigningPayload \
	./internal/gitrepo:FuzzParseLog \
	./internal/desiredstate:FuzzFlattenValues \
	./internal/desiredstate:FuzzParseYAML \
	./internal/desiredstate:FuzzEditHelmfile \
	./internal/config:FuzzLoad \
	./internal/policy:FuzzParse \
	./internal/build:FuzzParseDockerfile
# The short run counts executions, not seconds: a time budget can end in
# the middle of minimizing a new input, which go test reports as a failure
# ("context deadline exceeded") on a loaded machine.
FUZZTIME_SHORT ?= 3000x
FUZZTIME       ?= 60s

# Each package's test binary is built once, instrumented for fuzzing, and
# runs each of its targets from the package directory (where testdata/fuzz
# is) with go test's fuzz cache; a failing or missing target stops the run.
define run-fuzz
	bin=$$(mktemp -d) && trap 'rm -rf "$$bin"' EXIT && \
	for p in $(sort $(foreach t,$(FUZZ_TARGETS),$(firstword $(subst :, ,$(t))))); do \
		targets=$$(for t in $(FUZZ_TARGETS); do [ "$${t%%:*}" != "$$p" ] || echo "$${t#*:}"; done); \
		first=$$(echo "$$targets" | head -n 1); \
		$(GO) test -c -fuzz "^$$first\$$" -o "$$bin/fuzz.test" "$$p" || exit 1; \
		cache="$$($(GO) env GOCACHE)/fuzz/$$($(GO) list "$$p")"; \
		for t in $$targets; do \
			echo "fuzz $$t in $$p for $(1)"; \
			[ "$$("$$bin/fuzz.test" -test.list "^$$t\$$")" = "$$t" ] || \
				{ echo "$$p has no fuzz test $$t: correct FUZZ_TARGETS in the Makefile"; exit 1; }; \
			(cd "$$p" && "$$bin/fuzz.test" -test.run '^$$' -test.fuzz "^$$t\$$" -test.fuzztime $(1) \
				-test.fuzzminimizetime 200x -test.fuzzcachedir "$$cache") || exit 1; \
		done; \
	done
endef

fuzz-short: ## fuzz each parser for a few seconds (make test runs this)
	$(call run-fuzz,$(FUZZTIME_SHORT))

fuzz: ## fuzz each parser for a minute
	$(call run-fuzz,$(FUZZTIME))

bench: tools build ## benchmarks, with peer tools measured in the same run
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 30m ./...

lint: tools ## go vet and staticcheck
	$(GO) vet ./...
	staticcheck ./...

local-up: tools build ## start the local clone of the platform in the background (stepper local up)
	$(BIN) local up

local-down: build ## stop the local clone and remove it (stepper local down)
	$(BIN) local down

clean:
	rm -rf bin
