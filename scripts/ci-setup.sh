#!/bin/sh
# Install what scripts/cross-build.sh, scripts/build-ipk.sh and tests/pkg_opkg.sh
# need, in order, idempotently (a warm CI cache makes every step a no-op).
# Debian/Ubuntu runner, as root (or with sudo for apt).
#
#   scripts/ci-setup.sh
#
# Versions are pinned so a cached target/ stays valid and sizes stay comparable:
#   NIGHTLY       rustup toolchain used for -Zbuild-std (the one measured here)
#   ZIGLANG       zig from PyPI, used by cargo-zigbuild as C compiler/linker
#   ZIGBUILD      cargo-zigbuild
set -eu

NIGHTLY=${NIGHTLY:-nightly}
ZIGLANG=${ZIGLANG:-0.17.1}
ZIGBUILD=${ZIGBUILD:-0.24.1}

# 1. apt: qemu-user to run the foreign binaries, shellcheck for the shell
#    scripts, file for size-report's stripped check. GNU tar + gzip are base.
if command -v apt-get >/dev/null 2>&1; then
	missing=""
	command -v qemu-mipsel-static >/dev/null 2>&1 || missing="$missing qemu-user-static"
	command -v shellcheck >/dev/null 2>&1 || missing="$missing shellcheck"
	command -v file >/dev/null 2>&1 || missing="$missing file"
	if [ -n "$missing" ]; then
		apt-get update
		# shellcheck disable=SC2086 # a list of package names
		apt-get install -y --no-install-recommends $missing
	fi
fi

# 2. rustup: stable (tests, x86_64/aarch64 musl std) and the pinned nightly
#    with rust-src (build-std for every target).
#    The machine's own toolchains are used as they are: `rustup toolchain install` of
#    an installed channel would update it, and builds must not drift under CI.
rustup target list --installed | grep -q x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
#    llvm-tools: llvm-strip, to drop MIPS .pdr sections.
if rustup toolchain list | grep -q "^$NIGHTLY"; then
	rustup component add --toolchain "$NIGHTLY" rust-src llvm-tools
else
	rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src --component llvm-tools
fi

# 3. zig (C toolchain + musl crt/libc for all five targets).
python3 -c 'import ziglang' 2>/dev/null || python3 -m pip install "ziglang==$ZIGLANG"

# 4. cargo-zigbuild.
command -v cargo-zigbuild >/dev/null 2>&1 || cargo install --locked --version "$ZIGBUILD" cargo-zigbuild

echo "ci-setup: done (NIGHTLY=$NIGHTLY, ziglang $ZIGLANG, cargo-zigbuild $ZIGBUILD)"
