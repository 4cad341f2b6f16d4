#!/usr/bin/env bash
# Runs every test suite in order and ends with one summary line.
# Needs root for the namespace suites; CI=true makes a suite that cannot run fail.
set -uo pipefail
cd "$(dirname "$0")/.."
export MUROS_SHARED=${MUROS_SHARED:-$(cd .. && pwd)/shared}
# Every suite finds the real OpenWrt tools through these.
export OPENWRT_TOOLS_DIR=${OPENWRT_TOOLS_DIR:-$MUROS_SHARED/openwrt-tools}
export OPENWRT_WEB_ROOTFS=${OPENWRT_WEB_ROOTFS:-$MUROS_SHARED/openwrt-web/rootfs}
export OWRT_TOOLS=$OPENWRT_TOOLS_DIR OWRT_WEB=$MUROS_SHARED/openwrt-web
export UBUS=${UBUS:-$OPENWRT_TOOLS_DIR/bin/ubus}
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
suite "cross builds (5 CPUs, qemu: --version, check and render byte-identical)" scripts/cross-build.sh --all
suite "size report" scripts/size-report.sh --ratchet
suite "opkg: install, upgrade, remove with the real opkg" tests/pkg_opkg.sh
# The lab runs the release binary: the product as it ships (hook timing included).
export MUROS_HA=$PWD/target/release/muros-ha
suite "lab fault matrix, VRRPv2/1 s, muros-ha hook + render, fw4-style masquerade" env HOOK=muros CONFIGS=render NAT=masquerade VRRP_VERSION=2 ADVERT=1 tests/lab/faults.sh
suite "lab fault matrix, VRRPv3/0.1 s, muros-ha hook + render, fw4-style masquerade" env HOOK=muros CONFIGS=render NAT=masquerade VRRP_VERSION=3 ADVERT=0.1 tests/lab/faults.sh
# Figures, side by side (seed-style shell hook vs ours); prints, asserts nothing.
suite "benchmark: seed hook vs muros-ha (prints figures)" env CONFIGS=render tests/lab/bench.sh

echo
[ ${#failed_names[@]} -eq 0 ] || echo "failed suites: ${failed_names[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
