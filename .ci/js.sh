#!/usr/bin/env bash
# client-js: rebuild the bundle and fail when the committed one differs, typecheck, run the
# node unit tests. The browser tests (internal/browsertest: Debian's Chromium through
# playwright-core, driven by internal/browser) are Go tests and run once, in `make gotest`
# (go test ./...); run them alone with `go test ./internal/browsertest/`. `npm ci` is
# .ci/install-deps.sh's job.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d client-js/node_modules ]; then
  echo "js: client-js/node_modules missing; run: bash .ci/install-deps.sh (or cd client-js && npm ci)" >&2
  exit 1
fi

echo "js: build"
(cd client-js && node build.mjs)
if ! git diff --exit-code --stat -- client-js/dist || [ -n "$(git status --porcelain -- client-js/dist)" ]; then
  echo "js: client-js/dist is stale: run 'cd client-js && node build.mjs' and commit dist/" >&2
  git status --porcelain -- client-js/dist >&2
  exit 1
fi

echo "js: typecheck"
(cd client-js && node node_modules/typescript/bin/tsc -p tsconfig.json &&
  node node_modules/typescript/bin/tsc --noEmit --strict --target es2017 --module esnext \
    --moduleResolution bundler --lib es2020,dom test/types.ts)

echo "js: unit tests"
(cd client-js && node --test --test-timeout=60000 test/*.test.mjs)
