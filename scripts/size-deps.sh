#!/bin/sh
# What each dependency and each build option costs, in stripped bytes.
# Slow (one full build per row); run by hand when choosing crates, not in CI.
#
#   scripts/size-deps.sh [TRIPLE]      default mipsel-unknown-linux-musl
#
# Part 1 builds scripts/size-probe (a tiny program that uses serde_json,
# syslog and argh the way muros-ha does) with each feature alone and all
# together. Part 2 builds muros-ha itself with the panic strategy and std
# options toggled.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
TRIPLE=${1:-mipsel-unknown-linux-musl}
PINNED_ENV_NIGHTLY=${NIGHTLY:-}
# shellcheck source=scripts/toolchain.env
. "$HERE/toolchain.env"
NIGHTLY=${PINNED_ENV_NIGHTLY:-$NIGHTLY}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT INT TERM
BASE_TARGET=${CARGO_TARGET_DIR:-$TOP/target}/size-deps
SYSROOT=$(rustup run "$NIGHTLY" rustc --print sysroot)
HOST=$(rustup run "$NIGHTLY" rustc -vV | sed -n 's/^host: //p')
LLVM_STRIP=$SYSROOT/lib/rustlib/$HOST/bin/llvm-strip
case "$TRIPLE" in
armv7-*) PAGE="-Clink-arg=-Wl,-z,max-page-size=4096" ;;
*) PAGE="" ;;
esac

# build LABEL MANIFEST PANIC STDFEATURES [cargo args...]: prints "LABEL bytes"
build() {
	label=$1
	manifest=$2
	panic=$3
	stdfeat=$4
	shift 4
	case "$panic" in
	immediate-abort) pflags="-Zunstable-options -Cpanic=immediate-abort" ;;
	*) pflags="-Cpanic=$panic" ;;
	esac
	tdir="$BASE_TARGET/$panic-${stdfeat:-none}"
	set -- "$@" -Zbuild-std=std,panic_abort
	[ -n "$stdfeat" ] && set -- "$@" "-Zbuild-std-features=$stdfeat"
	if CARGO_TARGET_DIR=$tdir RUSTFLAGS="$pflags -Clink-self-contained=no $PAGE" \
		cargo "+$NIGHTLY" zigbuild --quiet --release --manifest-path "$manifest" \
		--target "$TRIPLE" "$@" >"$OUT/log" 2>&1; then
		name=$(sed -n 's/^name *= *"\([^"]*\)".*/\1/p' "$manifest" | head -n 1)
		# Same post-processing as scripts/cross-build.sh.
		"$LLVM_STRIP" --strip-all -R .pdr -R .comment "$tdir/$TRIPLE/release/$name" -o "$OUT/bin"
		printf '%-44s %8s\n' "$label" "$(wc -c <"$OUT/bin" | tr -d ' ')"
	else
		printf '%-44s %8s\n' "$label" "FAILED"
		tail -n 5 "$OUT/log" >&2
	fi
}

PROBE=$HERE/size-probe/Cargo.toml
echo "# $TRIPLE, stripped bytes (opt-level z, LTO, build-std)"
echo "## dependency cost (probe program; subtract the first row)"
build "std only (println, args)" "$PROBE" immediate-abort optimize_for_size
build "+ argh (CLI parsing)" "$PROBE" immediate-abort optimize_for_size --features args
build "+ serde + serde_json (derive, to/from str)" "$PROBE" immediate-abort optimize_for_size --features json
build "+ log + syslog (unix socket, RFC3164)" "$PROBE" immediate-abort optimize_for_size --features syslog
build "+ all three" "$PROBE" immediate-abort optimize_for_size --features args,json,syslog
echo "## muros-ha with build options"
build "panic=immediate-abort + optimize_for_size" "$TOP/Cargo.toml" immediate-abort optimize_for_size --locked
build "panic=immediate-abort" "$TOP/Cargo.toml" immediate-abort "" --locked
build "panic=abort + optimize_for_size" "$TOP/Cargo.toml" abort optimize_for_size --locked
build "panic=abort" "$TOP/Cargo.toml" abort "" --locked
