#!/bin/sh
# Static musl builds of muros-ha for the OpenWrt CPU families, each checked under
# qemu-user.  Output: dist/<triple>/muros-ha (stripped).
#
#   scripts/cross-build.sh --all            all five targets (what CI runs)
#   scripts/cross-build.sh TRIPLE...        just these
#
# Route (the one that works for all five here, including armv7 whose rust-std
# cannot be downloaded and the tier-3 MIPS targets, which have none):
#   nightly + -Zbuild-std=std,panic_abort  std is compiled from rust-src, so no
#                                          prebuilt rust-std is needed, and it is
#                                          compiled with our opt-level "z" + LTO
#   -Zbuild-std-features=optimize_for_size smaller std algorithms/formatting
#   -Cpanic=immediate-abort                no panic message/backtrace machinery
#                                          (the code has no panics outside tests)
#   -Cforce-unwind-tables=no               no .eh_frame (nothing unwinds): 482 -> 399 KB
#   -Zlocation-detail=none                 on aarch64
#   -Zlink-native-libraries=no -lc         no libunwind (nothing unwinds); on armv7
#                                          that drops the unwinder and the printf it
#                                          logs with: -12 KB there
#   -T no-unwind-tables.ld                 discards the C objects' .eh_frame (and
#                                          .ARM.exidx/extab): -9 KB aarch64, -7.5 KB
#                                          mipsel, -2.7 KB armv7
#   -Zfmt-debug=none                       `{:?}` formats nothing: no Debug code in the
#                                          binary (-10 KB aarch64, -12 KB mipsel).
#                                          tests/shipped_code.rs keeps `{:?}` out
#                                          of code that ships
#   aarch64: -outline-atomics              inline LL/SC atomics (ARMv8.0) instead of
#                                          helpers picking LSE at run time: -2.5 KB
#   aarch64: no machine scheduling         before or after register allocation, so
#     (-use-postra-scheduler,              the same source yields the same instruction
#      -enable-misched=false), outliner    sequences everywhere and the machine outliner
#      reruns=3                            (on at opt-level z) folds many more of them:
#                                          -8.3 KB. Tuning only, no ISA change; costs
#                                          a little speed on in-order cores (A53).
#   aarch64: -Ccode-model=tiny             one ADR instead of ADRP+ADD for every
#                                          address: -7.3 KB. Code and data must lie
#                                          within 1 MiB of each other (they span
#                                          ~0.5 MiB); if they ever do not, the link
#                                          fails with a relocation overflow, loudly.

#   cargo zigbuild (zig from PyPI)         one C toolchain + musl libc/crt for
#                                          every arch; no per-arch gcc
#   -Clink-self-contained=no               take crt1.o/libc from zig, not from
#                                          rustlib/<target>/lib/self-contained,
#                                          which only exists when rust-std of that
#                                          target is installed
#   armv7: -Wl,-z,max-page-size=4096       lld aligns ARM segments in the FILE to
#                                          64 KiB by default: 110 KB -> 48 KB.
#                                          OpenWrt's ARM kernels use 4 KiB pages.
#   armv7: -Ctarget-feature=+thumb-mode   Thumb-2 instead of A32 (every ARMv7-A
#                                          core has it; interworks with the A32
#                                          musl): 601 KB -> 422 KB.
#   mips*: -Crelocation-model=static       no PIC: MIPS PIC calls every function
#                                          through the GOT (lw t9 + jalr) and sets
#                                          up $gp in every prologue: 885 -> 761 KB.
#                                          Costs ASLR of the executable image, as
#                                          OpenWrt's own non-PIE MIPS builds do.
#   mips*: -mips-tail-calls=1              calls in tail position become jumps (GCC does
#                                          this at -O2; LLVM's MIPS backend has it behind
#                                          a flag): -3.7 KB
#   mips*: delay-slot filler searches      fill a branch's delay slot from the code
#     forward and in the successor block   after it or at its target too, not only
#     (-disable-mips-df-forward-search=    from before it: 6 % of the MIPS instructions
#      false, ...-succbb-search=false)     were nops in delay slots. -6.2 KB
#   mips*: -split-spill-mode=size,         spill code and prologues for size: -0.3 KB;
#     -enable-shrink-wrap=false,           MIR optimisation at the level debug builds
#     -Zmir-opt-level=1                    use: -0.2 KB
#     (all measured on mipsel; each is off by default in LLVM/rustc, so the mipsel
#      binary runs the daemon, peer, hook and checker suites under qemu in CI:
#      tests/cross_qemu.sh). Not -enable-ipra (-2.2 KB): with it the binary spins in
#      start-up under qemu-mipsel (before any output, with zig's allocator too).
#   llvm-strip -R .pdr -R .comment         MIPS objects carry .pdr (procedure
#                                          descriptors, unused at run time) that
#                                          lld's --strip-all keeps: 110 KB -> 55 KB.
#                                          llvm-strip comes with
#                                          `rustup component add llvm-tools`.
#
# Environment:
#   NIGHTLY=toolchain     default "nightly" (pin one in CI: nightly-2026-05-20 is the one measured)
#   PANIC=immediate-abort|abort   abort keeps panic messages (about +400 KB on mips)
#   CARGO_TARGET_DIR      default target/cross (keep it in the CI cache)
#   DIST                  default dist
#   SKIP_QEMU=1           build only
#   EXAMPLES=dir          example roots to compare across arches (default examples/)
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
ALL="x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl mips-unknown-linux-musl"
NIGHTLY=${NIGHTLY:-nightly}
PANIC=${PANIC:-immediate-abort}
DIST=${DIST:-$TOP/dist}
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

# Per-target linker flags (see the header).
extra_rustflags() {
	case "$1" in
	aarch64-*) echo "-Ccode-model=tiny -Ctarget-feature=-outline-atomics,-use-postra-scheduler -Cllvm-args=-enable-misched=false -Cllvm-args=-machine-outliner-reruns=3" ;;
	armv7-*) echo "-Clink-arg=-Wl,-z,max-page-size=4096 -Ctarget-feature=+thumb-mode" ;;
	mipsel-* | mips-*) echo "-Crelocation-model=static -Cllvm-args=-mips-tail-calls=1 -Cllvm-args=-disable-mips-df-forward-search=false -Cllvm-args=-disable-mips-df-succbb-search=false -Cllvm-args=-split-spill-mode=size -Cllvm-args=-enable-shrink-wrap=false -Zmir-opt-level=1" ;;
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

# RUSTFLAGS is split on spaces, and it carries the linker script's path.
case "$HERE" in *" "*)
	echo "$0: the checkout path has a space ($HERE); RUSTFLAGS cannot carry it" >&2
	exit 2
	;;
esac

case "$PANIC" in
# Nothing can unwind or print a panic location with immediate-abort, so the unwind
# tables (.eh_frame: ~90 KB on aarch64) and panic locations are dead weight.
# And no unwinder is needed: -Zlink-native-libraries=no drops the `-lunwind` std asks
# for (and the `-lc`, given back explicitly), and no-unwind-tables.ld discards the unwind
# tables of the C objects (and on armv7 the .ARM.exidx entries naming the EHABI
# personality routines, which would otherwise want libunwind).
immediate-abort) PANIC_FLAGS="-Zunstable-options -Cpanic=immediate-abort -Cforce-unwind-tables=no -Zlocation-detail=none -Zlink-native-libraries=no -Clink-arg=-lc -Clink-arg=-Wl,-T,$HERE/no-unwind-tables.ld" ;;
abort) PANIC_FLAGS="-Cpanic=abort" ;;
*)
	echo "$0: PANIC must be immediate-abort or abort" >&2
	exit 2
	;;
esac

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
	if ! RUSTFLAGS="$PANIC_FLAGS -Clink-self-contained=no -Zfmt-debug=none $(extra_rustflags "$triple")" \
		cargo "+$NIGHTLY" zigbuild --release --locked --manifest-path "$TOP/Cargo.toml" \
		--target "$triple" -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size; then
		echo "== $triple: BUILD FAILED"
		FAILED="$FAILED $triple"
		continue
	fi
	mkdir -p "$DIST/$triple"
	cp "$CARGO_TARGET_DIR/$triple/release/muros-ha" "$DIST/$triple/muros-ha.tmp"
	"$LLVM_STRIP" --strip-all -R .pdr -R .comment "$DIST/$triple/muros-ha.tmp"
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
