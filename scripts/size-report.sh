#!/bin/sh
# Size of the stripped binaries in dist/ (made by scripts/cross-build.sh), against two
# limits per target:
#
#   budget   what the product promises: mipsel/mips <= 768 KiB, aarch64 and
#            armv7 <= 512 KiB; x86_64 has none (printed for comparison). The .ipk
#            built from each binary (scripts/build-ipk.sh) is printed too, and the
#            mipsel/mips package must stay <= 384 KiB (what lands in a 8 MiB flash's
#            overlay).
#   ceiling  the committed ratchet in scripts/size-ceilings: the size last measured plus
#            a small margin for toolchain drift. Lower it whenever a change shrinks the
#            binary; raising it is a reviewed decision, never a side effect.
#
#   scripts/size-report.sh             table; exit 1 when a binary exceeds its budget
#                                      or its ceiling, or is not stripped
#   scripts/size-report.sh --ratchet   table; exit 1 only when a binary exceeds its
#                                      ceiling or is not stripped. Targets over their
#                                      budget get a loud "OVER BUDGET" line. CI ran
#                                      this while MIPS was over budget; since every
#                                      target is within budget CI runs the strict form.
#
# 1 KB = 1024 bytes.
set -eu
MODE=strict
case "${1:-}" in
--ratchet) MODE=ratchet ;;
"") ;;
*)
	echo "usage: $0 [--ratchet]" >&2
	exit 2
	;;
esac

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
DIST=${DIST:-$TOP/dist}
CEILINGS=${CEILINGS:-$HERE/size-ceilings}

budget_of() {
	case "$1" in
	mipsel-* | mips-*) echo $((768 * 1024)) ;;
	aarch64-* | armv7-*) echo $((512 * 1024)) ;;
	*) echo "" ;;
	esac
}

ipk_budget_of() {
	case "$1" in
	mipsel-* | mips-*) echo $((384 * 1024)) ;;
	*) echo "" ;;
	esac
}

IPKS=$(mktemp -d)
trap 'rm -rf "$IPKS"' EXIT INT TERM

# ceiling_of TRIPLE: bytes from the ceilings file ("triple bytes" lines, # comments).
ceiling_of() {
	[ -f "$CEILINGS" ] || return 0
	awk -v t="$1" '$1 == t { print $2 }' "$CEILINGS"
}

FAIL=0
OVER_BUDGET=""
FOUND=0
printf '%-32s %8s %8s %7s %8s %8s %8s %6s %s\n' target bytes KB 'budget' ceiling verdict stripped ipk-KB 'budget'
for bin in "$DIST"/*/muros-ha; do
	[ -f "$bin" ] || continue
	FOUND=1
	triple=$(basename "$(dirname "$bin")")
	bytes=$(wc -c <"$bin" | tr -d ' ')
	budget=$(budget_of "$triple")
	ceiling=$(ceiling_of "$triple")
	# The limits are about what lands on flash: an unstripped binary is a build
	# mistake, reported rather than silently measured.
	if file "$bin" | grep -q ', stripped'; then stripped=yes; else stripped=NO; fi
	verdict=ok
	if [ "$stripped" = NO ]; then
		verdict=UNSTRIPPED
		FAIL=1
	fi
	if [ -n "$ceiling" ] && [ "$bytes" -gt "$ceiling" ]; then
		verdict="GREW($((bytes - ceiling)))"
		FAIL=1
	fi
	if [ -n "$budget" ] && [ "$bytes" -gt "$budget" ]; then
		OVER_BUDGET="$OVER_BUDGET $triple:$(((bytes - budget + 1023) / 1024))KB"
		[ "$verdict" = ok ] && verdict=over-budget
		[ "$MODE" = strict ] && FAIL=1
	fi
	if [ -n "$budget" ]; then budget_kb=$((budget / 1024)); else budget_kb=-; fi
	# The package as it ships: the binary plus init script, config and LuCI-less files.
	ipk_kb=- ipk_budget_kb=-
	if ipk=$(BIN=$bin "$HERE/build-ipk.sh" "$triple" "$IPKS/$triple" 2>"$IPKS/$triple.log"); then
		ipk_bytes=$(wc -c <"$ipk" | tr -d ' ')
		ipk_kb=$(((ipk_bytes + 1023) / 1024))
		ipk_budget=$(ipk_budget_of "$triple")
		if [ -n "$ipk_budget" ]; then
			ipk_budget_kb=$((ipk_budget / 1024))
			if [ "$ipk_bytes" -gt "$ipk_budget" ]; then
				OVER_BUDGET="$OVER_BUDGET $triple.ipk:$(((ipk_bytes - ipk_budget + 1023) / 1024))KB"
				[ "$verdict" = ok ] && verdict="ipk-over-budget"
				[ "$MODE" = strict ] && FAIL=1
			fi
		fi
	else
		echo "build-ipk.sh $triple failed: $(tail -n 3 "$IPKS/$triple.log")" >&2
		verdict=NO-IPK
		FAIL=1
	fi
	printf '%-32s %8s %8s %7s %8s %8s %8s %6s %s\n' "$triple" "$bytes" "$(((bytes + 1023) / 1024))" \
		"$budget_kb" "${ceiling:--}" "$verdict" "$stripped" "$ipk_kb" "$ipk_budget_kb"
done

if [ "$FOUND" = 0 ]; then
	echo "no binaries under $DIST: run scripts/cross-build.sh --all first" >&2
	exit 1
fi
if [ -n "$OVER_BUDGET" ]; then
	echo "OVER BUDGET (by):$OVER_BUDGET" >&2
fi
if [ "$FAIL" = 1 ]; then
	echo "size check failed: see the verdict column (GREW = above scripts/size-ceilings)" >&2
fi
exit "$FAIL"
