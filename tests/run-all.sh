#!/usr/bin/env bash
# Runs every test suite in order and ends with one summary line.
# Needs root for the namespace suites; CI=true makes a suite that cannot run fail.
set -uo pipefail
cd "$(dirname "$0")/.."
export MUROS_SHARED=${MUROS_SHARED:-$(cd .. && pwd)/shared}
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

passed=0; failed=0; failed_names=()
suite() {
  local name=$1; shift
  echo
  echo "=== suite: $name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); echo "=== suite $name: ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1)); failed_names+=("$name"); echo "=== suite $name: FAILED ($((SECONDS - t0)) s)"
  fi
}

suite "cargo build (release)" cargo build --release --locked
suite "cargo test" cargo test --locked -- --test-threads=2
suite "luci (ACL contract + real LuCI in chromium)" tests/luci/run.sh

echo
[ ${#failed_names[@]} -eq 0 ] || echo "failed suites: ${failed_names[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
