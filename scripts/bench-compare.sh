#!/usr/bin/env bash
# Two builds of muros-ha measured side by side in one run (e.g. the previous release
# and this tree): `status` latency and daemon memory (examples/daemon_bench), the
# notify hook's wall and CPU time (examples/notify_bench), and the size of each
# build's router binaries when their dist/ folders are given. Prints; asserts nothing.
#
#   scripts/bench-compare.sh BEFORE_BIN AFTER_BIN [BEFORE_DIST AFTER_DIST]
#
# Needs root for nothing; the real ubusd from ../shared/openwrt-tools (MUROS_SHARED).
set -euo pipefail
[ $# -eq 2 ] || [ $# -eq 4 ] || { echo "usage: $0 BEFORE_BIN AFTER_BIN [BEFORE_DIST AFTER_DIST]" >&2; exit 2; }
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet --examples
for label in before after; do
	if [ "$label" = before ]; then bin=$1; else bin=$2; fi
	echo "## $label: $bin"
	MUROS_HA_BIN=$bin target/release/examples/daemon_bench 1000 5
	echo
	MUROS_HA_BIN=$bin target/release/examples/notify_bench 100
	echo
done
if [ $# -eq 4 ]; then
	echo "## stripped router binaries (bytes)"
	printf '| %-32s | %9s | %9s | %9s |\n' target before after change
	printf '|---|---|---|---|\n'
	for d in "$4"/*/; do
		t=$(basename "$d")
		if [ ! -f "$3/$t/muros-ha" ] || [ ! -f "$4/$t/muros-ha" ]; then continue; fi
		b=$(wc -c <"$3/$t/muros-ha"); a=$(wc -c <"$4/$t/muros-ha")
		printf '| %-32s | %9d | %9d | %+8d |\n' "$t" "$b" "$a" $((a - b))
	done
fi
