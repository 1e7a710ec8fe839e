# sockhop: `make test` is what CI runs (.ci/run); `make bench` measures.
GO ?= go
export PATH := $(shell go env GOPATH)/bin:$(PATH)

.PHONY: test deps lint gotest js fmt bench

test: deps lint gotest js

deps:
	bash ci/install-deps.sh

lint:
	bash ci/lint.sh

gotest:
	$(GO) test -race -shuffle=on -count=1 -timeout 15m ./...

# Rebuilds the bundled browser client, fails on a stale committed bundle, runs the node and
# browser tests (only once client-js exists).
js:
	@if [ -f client-js/package.json ]; then bash ci/js.sh; fi

fmt:
	gofmt -w $$(git ls-files '*.go')
