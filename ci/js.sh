#!/usr/bin/env bash
# client-js: rebuild the bundle and fail when the committed one differs, typecheck, run the
# node unit tests, then the browser tests (Go tests in internal/browsertest driving Debian's
# Chromium through playwright-core). `npm ci` is ci/install-deps.sh's job. With CI=true a
# missing Chromium or node_modules is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

ci=${CI:-}
if [ ! -d client-js/node_modules ]; then
  echo "js: client-js/node_modules missing; run: bash ci/install-deps.sh (or cd client-js && npm ci)" >&2
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

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$ci" = true ]; then
    echo "js: chromium is missing (apt-get install chromium); browser tests cannot run" >&2
    exit 1
  fi
  echo "js: chromium is missing; skipping the browser tests (they are required with CI=true)"
  exit 0
fi
echo "js: browser tests"
go test -count=1 -v -timeout 10m ./internal/browsertest/ 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT)' 
exit "${PIPESTATUS[0]}"
