#!/bin/sh
# Install what scripts/cross-build.sh, scripts/build-ipk.sh and tests/pkg_opkg.sh
# need, idempotently (a warm machine makes every step a check).
# Debian, as root (or with sudo for apt).
#
#   scripts/ci-setup.sh
#
# Every version comes from scripts/toolchain.env (the nightly for -Zbuild-std, zig,
# cargo-zigbuild) or rust-toolchain.toml (the stable host toolchain): what this
# installs is what the repository names, never whatever the machine happens to have.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091 # sourced file, checked on its own
. "$HERE/toolchain.env"

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

# 2. rustup: the pinned nightly with rust-src (-Zbuild-std) and llvm-tools
#    (llvm-strip, to drop MIPS .pdr sections). A dated nightly never changes, so
#    installing it again is a no-op.
rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src --component llvm-tools --no-self-update

# 3. zig (C toolchain + musl crt/libc for all five targets).
python3 -c "import ziglang, importlib.metadata as m; assert m.version('ziglang') == '$ZIGLANG'" 2>/dev/null ||
	python3 -m pip install -q --root-user-action=ignore "ziglang==$ZIGLANG"

# 4. cargo-zigbuild, into CARGO_HOME/bin (on PATH through .ci/setup.sh).
if ! cargo-zigbuild --version 2>/dev/null | grep -q " $ZIGBUILD"; then
	cargo install --locked --version "$ZIGBUILD" cargo-zigbuild
fi

echo "ci-setup: done ($NIGHTLY, ziglang $ZIGLANG, cargo-zigbuild $ZIGBUILD)"
