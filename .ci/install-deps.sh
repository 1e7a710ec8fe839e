#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine: Debian packages (as root, only
# those missing) and client-js's npm packages (.ci/lint.sh installs staticcheck).
# Without root and with something missing it prints the exact command and fails when CI=true.
# gcc: the race detector (go test -race) needs cgo. make: .ci/run calls this script first
# on a machine without it.
set -euo pipefail
cd "$(dirname "$0")/.."

# prometheus: promtool, for `promtool check metrics` and the dashboard's queries (metrics/);
# installing it non-interactively here starts no daemon (no systemd), and the tests that
# use promtool skip without it.
pkgs=(gcc make redis-server nats-server nginx apache2 chromium curl prometheus)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "install-deps: apt-get install ${missing[*]}"
    exec 9>/tmp/sockhop-apt.lock
    flock 9
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    flock -u 9
  else
    echo "install-deps: missing Debian packages; run: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    if [ "${CI:-}" = true ]; then exit 1; fi
  fi
fi

if [ -f client-js/package-lock.json ]; then
  if [ ! -d client-js/node_modules ] || [ client-js/package-lock.json -nt client-js/node_modules ]; then
    echo "install-deps: npm ci (client-js)"
    (cd client-js && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
