#!/bin/sh
# Size budget of the stripped binaries in dist/ (made by scripts/cross-build.sh).
#
#   scripts/size-report.sh            table + exit 1 when a budget is exceeded
#
# Budgets (1 KB = 1024 bytes): mipsel/mips <= 400 KB (8/16 MB flash routers),
# aarch64 and armv7 <= 300 KB. x86_64 has none (printed for comparison).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
DIST=${DIST:-$TOP/dist}

budget_of() {
	case "$1" in
	mipsel-* | mips-*) echo $((400 * 1024)) ;;
	aarch64-* | armv7-*) echo $((300 * 1024)) ;;
	*) echo "" ;;
	esac
}

OVER=0
FOUND=0
printf '%-34s %10s %10s %8s %s\n' target bytes budget ok stripped
for bin in "$DIST"/*/muros-ha; do
	[ -f "$bin" ] || continue
	FOUND=1
	triple=$(basename "$(dirname "$bin")")
	bytes=$(wc -c <"$bin" | tr -d ' ')
	budget=$(budget_of "$triple")
	# The budget is about what lands on flash: an unstripped binary is a
	# build mistake, reported rather than silently measured.
	if file "$bin" | grep -q ', stripped'; then stripped=yes; else stripped=NO; fi
	if [ -z "$budget" ]; then
		ok=-
		budget=-
	elif [ "$bytes" -le "$budget" ] && [ "$stripped" = yes ]; then
		ok=yes
	else
		ok=NO
		OVER=1
	fi
	printf '%-34s %10s %10s %8s %s\n' "$triple" "$bytes" "$budget" "$ok" "$stripped"
done

if [ "$FOUND" = 0 ]; then
	echo "no binaries under $DIST: run scripts/cross-build.sh --all first" >&2
	exit 1
fi
exit "$OVER"
