#!/usr/bin/env bash
# gofmt, go vet and staticcheck over the whole module; installs staticcheck at the pinned
# version when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '^client-js/node_modules/') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:" >&2; echo "$unformatted" >&2; exit 1
fi
go vet ./...
STATICCHECK_VERSION=v0.8.2
sc=$(command -v staticcheck || echo "$(go env GOPATH)/bin/staticcheck")
if [ ! -x "$sc" ]; then
  echo "lint: go install staticcheck@$STATICCHECK_VERSION"
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
"$sc" ./...
