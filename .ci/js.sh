#!/usr/bin/env bash
# client-js: npm test (rebuild the bundle, typecheck, run the node unit tests), then fail
# when the committed bundle differs from the rebuilt one. The browser tests (internal/browsertest: Debian's Chromium through
# playwright-core, driven by internal/browser) are Go tests and run once, in `make gotest`
# (go test ./...); run them alone with `go test ./internal/browsertest/`. `npm ci` is
# .ci/install-deps.sh's job.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d client-js/node_modules ]; then
  echo "js: client-js/node_modules missing; run: bash .ci/install-deps.sh (or cd client-js && npm ci)" >&2
  exit 1
fi

echo "js: npm test (build, typecheck, node unit tests)"
(cd client-js && npm test)
if ! git diff --exit-code --stat -- client-js/dist || [ -n "$(git status --porcelain -- client-js/dist)" ]; then
  echo "js: client-js/dist is stale: run 'cd client-js && node build.mjs' and commit dist/" >&2
  git status --porcelain -- client-js/dist >&2
  exit 1
fi
