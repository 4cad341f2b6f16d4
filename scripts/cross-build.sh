#!/bin/sh
# Static musl builds of muros-ha for the OpenWrt CPU families, each checked under
# qemu-user.  Output: dist/<triple>/muros-ha (stripped).
#
#   scripts/cross-build.sh --all            all five targets (what CI runs)
#   scripts/cross-build.sh TRIPLE...        just these
#
# Route (one recipe for all five targets; every flag is one an OpenWrt feed
# maintainer can carry: Cargo profile settings, documented rustc -C options, and
# -Zbuild-std where a target has no prebuilt std):
#   nightly + -Zbuild-std=std,panic_abort  std compiled from rust-src: the MIPS targets
#                                          (tier 3) have no prebuilt rust-std, and a std
#                                          built with our profile (opt-level "z", LTO,
#                                          panic=abort) is smaller than the prebuilt one.
#                                          The nightly is pinned in scripts/toolchain.env.
#   -Zbuild-std-features=optimize_for_size std's own size-over-speed switch
#   [profile.release] in Cargo.toml        opt-level z, lto, codegen-units 1,
#                                          panic abort, strip
#   cargo zigbuild (zig from PyPI)         one C toolchain + musl libc/crt for every
#                                          arch; no per-arch gcc
#   -Clink-self-contained=no               take crt1.o/libc from zig, not from
#                                          rustlib/<target>/lib/self-contained, which
#                                          exists only where rust-std of that target is
#                                          installed
#   --remap-path-prefix=...=rust, =crates
#                                          panic locations name std's and the crates'
#                                          sources by short, machine-independent
#                                          paths, not $HOME/.rustup/... (-6.8 KB
#                                          aarch64; also makes the build reproducible)
#   -Clink-arg=-Os                         zig builds musl, libunwind and compiler-rt
#                                          for the link in the mode of its own command
#                                          line: ReleaseFast unless told -Os. -Os is
#                                          what OpenWrt builds its own musl with
#                                          (-3.6 KB aarch64: zig's malloc, memcpy,
#                                          compiler-rt)
#   -Zunstable-options -Cpanic=immediate-abort
#                                          rustc's panic strategy that aborts at the
#                                          panic site: no panic message formatting, no
#                                          panic hook, no backtrace printer (which is
#                                          what links libunwind and musl's printf).
#                                          muros-ha has no panic outside tests; a bug
#                                          that panics on a router dies by SIGILL/SIGTRAP
#                                          without a message (procd respawns it) instead
#                                          of with one. -75.8 KB aarch64. Needs the std
#                                          built with it: -Zbuild-std, as for MIPS
#   -Cforce-unwind-tables=no               no unwind tables for Rust code: with
#                                          panic=abort nothing unwinds, they would
#                                          only lengthen a panic's backtrace
#                                          (.eh_frame was 52 KB of the mipsel binary)
#   aarch64: -Ccode-model=tiny             rustc's documented code-model option, like
#                                          relocation-model: one ADR per address
#                                          instead of ADRP+ADD (-12.9 KB). Code and data
#                                          must lie within 1 MiB of each other (they
#                                          span ~0.5 MiB); past that the link fails
#                                          with a relocation overflow, loudly
#   aarch64: -Ctarget-feature=-outline-atomics
#                                          atomics as inline LL/SC (ARMv8.0, what the
#                                          Cortex-A53 of most aarch64 routers has)
#                                          instead of calls to helpers that test for
#                                          ARMv8.1 LSE at start (-2.5 KB); LL/SC works on
#                                          every ARMv8 core
#   armv7: -Ctarget-feature=+thumb-mode    Thumb-2 instead of A32 (every ARMv7-A core
#                                          has it; interworks with the A32 musl)
#   armv7: -Clink-arg=-Wl,-z,max-page-size=4096
#                                          lld aligns ARM segments in the file to 64 KiB
#                                          by default; OpenWrt's ARM kernels use 4 KiB
#                                          pages
#   mips*: -Crelocation-model=static       no PIC: MIPS PIC calls every function through
#                                          the GOT and sets up $gp in every prologue.
#                                          Costs ASLR of the executable image, as
#                                          OpenWrt's own non-PIE MIPS builds do
#   llvm-strip -R .pdr -R .comment         MIPS objects carry .pdr (procedure
#                                          descriptors, unused at run time) that lld's
#                                          --strip-all keeps. llvm-strip comes with
#                                          `rustup component add llvm-tools`
# Not used (they were once, for an older 400 KiB budget): -Cllvm-args backend knobs,
# LLVM-internal target features and scheduler switches, a linker script, -Zfmt-debug=none.
# DESIGN.md, Size, says what each cost.
#
# Environment:
#   NIGHTLY=toolchain     default: the one pinned in scripts/toolchain.env
#   CARGO_TARGET_DIR      default target/cross (keep it in the CI cache)
#   DIST                  default dist
#   SKIP_QEMU=1           build only
#   PROFILE=sizes         the release build with its symbols kept, unstripped (for
#                         scripts/size-by-crate.sh); default release
#   EXAMPLES=dir          example roots to compare across arches (default examples/)
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
ALL="x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl mips-unknown-linux-musl"
# The pinned nightly, unless NIGHTLY is set (to measure another one).
PINNED_ENV_NIGHTLY=${NIGHTLY:-}
# shellcheck disable=SC1091 # sourced file, checked on its own
. "$HERE/toolchain.env"
NIGHTLY=${PINNED_ENV_NIGHTLY:-$NIGHTLY}
DIST=${DIST:-$TOP/dist}
PROFILE=${PROFILE:-release}
EXAMPLES=${EXAMPLES:-$TOP/examples}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TOP/target/cross}"

usage() {
	echo "usage: $0 --all | TRIPLE..." >&2
	echo "triples: $ALL" >&2
	exit 2
}
[ $# -ge 1 ] || usage
if [ "$1" = "--all" ]; then
	# shellcheck disable=SC2086 # word splitting of the list is intended
	set -- $ALL
fi

# Per-target flags (see the header).
extra_rustflags() {
	case "$1" in
	aarch64-*) echo "-Ccode-model=tiny -Ctarget-feature=-outline-atomics" ;;
	armv7-*) echo "-Ctarget-feature=+thumb-mode -Clink-arg=-Wl,-z,max-page-size=4096" ;;
	mipsel-* | mips-*) echo "-Crelocation-model=static" ;;
	*) echo "" ;;
	esac
}

qemu_for() {
	case "$1" in
	x86_64-*) echo "" ;; # runs natively
	aarch64-*) echo qemu-aarch64-static ;;
	armv7-*) echo qemu-arm-static ;;
	mipsel-*) echo qemu-mipsel-static ;;
	mips-*) echo qemu-mips-static ;;
	*) return 1 ;;
	esac
}

need() {
	command -v "$1" >/dev/null 2>&1 || {
		echo "$0: $1 not found. $2" >&2
		exit 1
	}
}
need cargo-zigbuild "cargo install --locked cargo-zigbuild"
python3 -c 'import ziglang' 2>/dev/null || command -v zig >/dev/null 2>&1 || {
	echo "$0: zig not found: pip install ziglang" >&2
	exit 1
}
rustup run "$NIGHTLY" rustc --print sysroot >/dev/null 2>&1 || {
	echo "$0: toolchain $NIGHTLY missing: rustup toolchain install $NIGHTLY --component rust-src" >&2
	exit 1
}
SYSROOT=$(rustup run "$NIGHTLY" rustc --print sysroot)
HOST=$(rustup run "$NIGHTLY" rustc -vV | sed -n 's/^host: //p')
LLVM_STRIP=$SYSROOT/lib/rustlib/$HOST/bin/llvm-strip
[ -x "$LLVM_STRIP" ] || {
	echo "$0: llvm-strip missing: rustup component add llvm-tools --toolchain $NIGHTLY" >&2
	exit 1
}
[ -d "$SYSROOT/lib/rustlib/src/rust/library" ] || {
	echo "$0: rust-src missing: rustup component add rust-src --toolchain $NIGHTLY" >&2
	exit 1
}

# zig drops the symbols of a -Os link unless asked for debug info: the sizes profile
# keeps them for scripts/size-by-crate.sh (debug info does not change the code).
KEEP_SYMS=""
[ "$PROFILE" = sizes ] && KEEP_SYMS="-Clink-arg=-g"
# Panic locations name their source file; without remapping, each one of std's and the
# crates' spells out the build machine's $HOME (rust-src under rustup, cargo's registry).
REMAP="--remap-path-prefix=$SYSROOT/lib/rustlib/src/rust=rust"
for reg in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do
	[ -d "$reg" ] && REMAP="$REMAP --remap-path-prefix=${reg%/}=crates"
done

VERSION=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$TOP/Cargo.toml" | head -n 1)
FAILED=""
T0=$(date +%s)

for triple in "$@"; do
	qemu=$(qemu_for "$triple") || {
		echo "$0: unknown target $triple" >&2
		usage
	}
	t1=$(date +%s)
	echo "== $triple: building"
	if ! RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Clink-self-contained=no -Cforce-unwind-tables=no -Clink-arg=-Os $KEEP_SYMS $REMAP $(extra_rustflags "$triple")" \
		cargo "+$NIGHTLY" zigbuild --profile "$PROFILE" --locked --manifest-path "$TOP/Cargo.toml" \
		--target "$triple" -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size; then
		echo "== $triple: BUILD FAILED"
		FAILED="$FAILED $triple"
		continue
	fi
	mkdir -p "$DIST/$triple"
	cp "$CARGO_TARGET_DIR/$triple/$PROFILE/muros-ha" "$DIST/$triple/muros-ha.tmp"
	# The sizes profile keeps its symbols: scripts/size-by-crate.sh reads them.
	[ "$PROFILE" = sizes ] || "$LLVM_STRIP" --strip-all -R .pdr -R .comment "$DIST/$triple/muros-ha.tmp"
	mv "$DIST/$triple/muros-ha.tmp" "$DIST/$triple/muros-ha"
	t2=$(date +%s)
	echo "== $triple: built in $((t2 - t1)) s, $(wc -c <"$DIST/$triple/muros-ha" | tr -d ' ') bytes"

	[ "${SKIP_QEMU:-0}" = 1 ] && continue
	if [ -n "$qemu" ] && ! command -v "$qemu" >/dev/null 2>&1; then
		echo "== $triple: $qemu missing (apt-get install qemu-user-static)"
		FAILED="$FAILED $triple(qemu)"
		continue
	fi
	# $qemu is empty for the native target and must then vanish from the argv.
	# shellcheck disable=SC2086
	out=$($qemu "$DIST/$triple/muros-ha" --version 2>&1) || true
	if [ "$out" = "muros-ha $VERSION" ]; then
		echo "== $triple: --version under ${qemu:-native}: $out"
	else
		echo "== $triple: --version under ${qemu:-native} printed '$out', wanted 'muros-ha $VERSION'"
		FAILED="$FAILED $triple(version)"
	fi
done

# Same input, same bytes on every architecture: check and render of every
# example router, compared with the x86_64 build. Enabled once examples exist.
X86=$DIST/x86_64-unknown-linux-musl/muros-ha
if [ "${SKIP_QEMU:-0}" != 1 ] && [ -d "$EXAMPLES/router-a" ] && [ -x "$X86" ]; then
	W=$(mktemp -d)
	trap 'rm -rf "$W"' EXIT INT TERM
	# run_example LABEL QEMU BIN EXAMPLE_DIR: leaves $W/LABEL/<example>/{root,check.out,check.rc,render.rc}
	run_example() {
		d=$W/$1/$(basename "$4")
		mkdir -p "$d"
		cp -a "$4" "$d/root"
		# Non-zero exits are results to compare, not errors (set -e).
		rc=0
		# shellcheck disable=SC2086
		$2 "$3" check --root "$d/root" >"$d/check.out" 2>&1 || rc=$?
		echo "$rc" >"$d/check.rc"
		rc=0
		# shellcheck disable=SC2086
		$2 "$3" render --root "$d/root" >"$d/render.out" 2>&1 || rc=$?
		echo "$rc" >"$d/render.rc"
	}
	for ex in "$EXAMPLES"/*/; do
		[ -f "$ex/etc/config/muros_ha" ] || continue
		run_example x86_64 "" "$X86" "${ex%/}"
	done
	for triple in "$@"; do
		[ "$triple" = x86_64-unknown-linux-musl ] && continue
		[ -x "$DIST/$triple/muros-ha" ] || continue
		qemu=$(qemu_for "$triple")
		for ex in "$EXAMPLES"/*/; do
			[ -f "$ex/etc/config/muros_ha" ] || continue
			name=$(basename "$ex")
			run_example "$triple" "$qemu" "$DIST/$triple/muros-ha" "${ex%/}"
			# Paths inside outputs name the per-arch temp dir: compare with it replaced.
			if diff -r "$W/x86_64/$name/root" "$W/$triple/$name/root" >/dev/null &&
				cmp -s "$W/x86_64/$name/check.rc" "$W/$triple/$name/check.rc" &&
				cmp -s "$W/x86_64/$name/render.rc" "$W/$triple/$name/render.rc" &&
				[ "$(sed "s|$W/x86_64/|W/|g" "$W/x86_64/$name/check.out")" = "$(sed "s|$W/$triple/|W/|g" "$W/$triple/$name/check.out")" ]; then
				echo "== $triple: examples/$name: check + render identical to x86_64"
			else
				echo "== $triple: examples/$name: DIFFERS from x86_64"
				diff -r "$W/x86_64/$name" "$W/$triple/$name" | head -n 20
				FAILED="$FAILED $triple($name)"
			fi
		done
	done
fi

echo "== total $(($(date +%s) - T0)) s for: $*"
if [ -n "$FAILED" ]; then
	echo "== FAILED:$FAILED"
	exit 1
fi
