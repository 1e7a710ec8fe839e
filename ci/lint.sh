#!/usr/bin/env bash
# gofmt, go vet and staticcheck over the whole module.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '^client-js/node_modules/') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:" >&2; echo "$unformatted" >&2; exit 1
fi
go vet ./...
sc=$(command -v staticcheck || echo "$(go env GOPATH)/bin/staticcheck")
"$sc" ./...
