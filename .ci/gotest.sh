#!/usr/bin/env bash
# Runs `go test` with the given arguments, keeping the whole output in a log, and when it
# fails prints a summary last: the failed tests, the tests a timeout found running, the
# teardowns that hung. CI shows the tail of a long output, and a timeout's goroutine dump
# would otherwise push the names off it.
set -uo pipefail
log=$(mktemp "${TMPDIR:-/tmp}/gotest.XXXXXX")
"${GO:-go}" test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
  echo
  echo "==== go test failed (exit $rc); the whole output is in $log. Summary:"
  grep -E -- '^\s*--- FAIL|^FAIL|^panic: |^testutil: ' "$log" | head -60
  awk '/^[[:space:]]*running tests:/ { p = 1; print; next } p && /^[[:space:]]+Test/ { print; next } { p = 0 }' "$log"
fi
exit "$rc"
