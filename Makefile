# sockhop: `make test` is what CI runs (.ci/run, with the scripts of .ci/); `make check` is
# the fast inner loop; `make bench` measures.
GO ?= go
SHELL := bash
.SHELLFLAGS := -o pipefail -ec
export PATH := $(shell go env GOPATH)/bin:$(PATH)

.PHONY: test check deps lint gotest gofull fuzz js fmt bench

test: deps lint gotest gofull fuzz js bench-smoke

# The inner loop, about 2 minutes on 2 cores (the root package's tests are most of it):
# gofmt, go vet, staticcheck, and the Go tests with -race and -short, which skips the tests
# that need a browser, nginx or Apache, or redis-server (and a few long ones). Needs only Go
# and gcc; `make test` runs everything.
check: lint
	$(GO) test -race -short -shuffle=on -count=1 -timeout 5m ./...

deps:
	bash .ci/install-deps.sh

lint:
	bash .ci/lint.sh

gotest:
	GO=$(GO) bash .ci/gotest.sh -race -shuffle=on -count=1 -timeout 15m ./...

# What the race detector changes: the resume tests at their full size (TestResumeUnderCuts:
# 50 clients x 3 transports x 2,000 messages under random cuts; TestResumeAcrossSwitches:
# 16 clients x 2,000 messages per pair of transports, switching under cuts and refusals),
# and the allocation count of rooms' fan-out (sync.Pool drops items on purpose under -race).
gofull:
	$(GO) test -count=1 -timeout 5m -run 'TestResumeUnderCuts|TestResumeAcrossSwitches' -v . | grep -E '^(---|\s+---|ok|FAIL|\s+resume_(switch_)?test)'
	$(GO) test -count=1 -run 'TestIndexEachAllocs' -v ./rooms | grep -E '^(---|ok|FAIL)'

# Short fuzz runs of every decoder a client reaches, 100,000 inputs each (10-30 s here).
# A count, not a duration: Go 1.26's fuzz coordinator can fail a target with "context
# deadline exceeded" when a -fuzztime duration runs out (golang/go#75804, fixed in Go
# 1.27); a count has no deadline. The corpus is committed in each package's testdata/fuzz
# (plain go test replays it); to grow it after a longer run, copy
# $(go env GOCACHE)/fuzz/github.com/sockhop/sockhop/<pkg>/<Fuzz>/* there.
FUZZTIME ?= 100000x
fuzz:
	$(GO) test -run XXX -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./events
	$(GO) test -run XXX -fuzz '^FuzzLines$$' -fuzztime $(FUZZTIME) ./events
	$(GO) test -run XXX -fuzz '^FuzzDecodeBinary$$' -fuzztime $(FUZZTIME) ./events
	$(GO) test -run XXX -fuzz '^FuzzParseSend$$' -fuzztime $(FUZZTIME) ./transport/sockjs
	$(GO) test -run XXX -fuzz '^FuzzReadFrames$$' -fuzztime $(FUZZTIME) ./internal/dial

# Rebuilds the bundled browser client, fails on a stale committed bundle, runs the node and
# browser tests (only once client-js exists).
js:
	@if [ -f client-js/package.json ]; then bash .ci/js.sh; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

# bench/ is its own Go module (peer libraries stay out of go.mod) plus a Node part for
# Socket.IO; see BENCHMARKS.md. Servers run on CPU 0, the load generator on CPU 1.
BENCH_PIN = $(shell [ "$$(nproc)" -ge 2 ] && echo "taskset -c 1")

.PHONY: bench-build bench-smoke bench-smoke-baseline bench-attack

bench-build:
	cd bench/socketio && npm ci --no-audit --no-fund --loglevel=error
	cd bench && $(GO) build -o bin/peer ./cmd/peer && $(GO) build -o bin/bench ./cmd/bench
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./cmd/bench

# Full run (about 15 minutes): writes bench/results/<date>.md, the charts and BENCHMARKS.md.
bench: bench-build bench-attack
	cd bench && $(BENCH_PIN) bin/bench -out results -md ../BENCHMARKS.md

# A well-behaved client's echo p99 while hostile clients hammer the server (SECURITY.md):
# server and client on CPU 0, the attackers in a child process on CPU 1. About 4 minutes.
ATTACK_PIN = $(shell [ "$$(nproc)" -ge 2 ] && command -v taskset >/dev/null && echo "taskset -c 0")
bench-attack:
	$(ATTACK_PIN) $(GO) test -run '^$$' -bench EchoUnderAttack -benchtime $(or $(ATTACK_N),1000x) .

# Under 2 minutes: every peer and scenario once at tiny counts, then the regression guard
# (headline ratios over a few repetitions against bench/results/smoke-baseline.json, with a
# noise margin from the spread it measured); exits non-zero on a failure or a regression.
bench-smoke: bench-build
	cd bench && $(BENCH_PIN) bin/bench -smoke
	$(MAKE) --no-print-directory bench-attack ATTACK_N=1x

# Rewrites the guard's baseline (after a change that moves a ratio on purpose; commit it).
bench-smoke-baseline: bench-build
	cd bench && $(BENCH_PIN) bin/bench -smoke -write-baseline
