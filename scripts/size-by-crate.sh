#!/usr/bin/env bash
# What each crate (and each muros-ha module) costs in a router binary: machine code
# per crate, summed from the symbols of the release build with its symbols kept
# (the `sizes` profile: same code as release, built by scripts/cross-build.sh with
# the same flags). With LTO, inlined code counts where it ended up and generic code
# counts under the crate that defines the function, so the split is approximate;
# the stripped size of the same build is printed for scale.
#
#   scripts/size-by-crate.sh [TRIPLE]     default mipsel-unknown-linux-musl
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
TRIPLE=${1:-mipsel-unknown-linux-musl}
# shellcheck disable=SC1091 # sourced file, checked on its own
. "$HERE/toolchain.env"
OUT=${CARGO_TARGET_DIR:-$TOP/target/cross}/sizes-dist
PROFILE=sizes SKIP_QEMU=1 DIST=$OUT "$HERE/cross-build.sh" "$TRIPLE" >"$OUT.log" 2>&1 || {
	tail -n 20 "$OUT.log" >&2
	exit 1
}
bin=$OUT/$TRIPLE/muros-ha
SYSROOT=$(rustup run "$NIGHTLY" rustc --print sysroot)
HOST=$(rustup run "$NIGHTLY" rustc -vV | sed -n 's/^host: //p')
TOOLS=$SYSROOT/lib/rustlib/$HOST/bin
stripped=$("$TOOLS/llvm-strip" --strip-all -R .pdr -R .comment "$bin" -o - | wc -c)
echo "# $TRIPLE: code bytes per crate (text symbols of the unstripped release build)"
"$TOOLS/llvm-nm" -C --size-sort -S "$bin" | awk '
  function hex2dec(h,   i, n, c) { n = 0; h = tolower(h); for (i = 1; i <= length(h); i++) { c = index("0123456789abcdef", substr(h, i, 1)) - 1; n = n * 16 + c } return n }
  $3 ~ /^[tTwW]$/ {
    size = hex2dec($2); name = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", name)
    # "<serde_json::Value as core::fmt::Display>::fmt" -> serde_json;
    # "muros_ha::peer::link::run" -> muros_ha::peer; C symbols (musl) -> libc.
    gsub(/^<+/, "", name)
    gsub(/^(impl |dyn )/, "", name)
    n = split(name, parts, "::")
    key = (n == 1) ? "libc (musl, C)" : parts[1]
    if (key == "muros_ha" && parts[2] != "") key = "muros_ha::" parts[2]
    sub(/[<( ].*$/, "", key)
    sum[key] += size; all += size
  }
  END {
    for (k in sum) printf "%9d  %s\n", sum[k], k
    printf "%9d  (all text symbols)\n", all
  }' | sort -rn | head -40
echo "stripped binary of this build: $stripped bytes"
