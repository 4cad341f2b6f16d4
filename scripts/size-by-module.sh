#!/usr/bin/env bash
# Prints how many bytes of machine code each muros-ha module and each dependency takes
# in the release build (x86_64; same opt-level/LTO as release, symbols kept).
# With LTO, inlined code is counted where it ended up, so the split is approximate.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile sizes --locked -q
bin=target/sizes/muros-ha
total=$(stat -c %s target/release/muros-ha 2>/dev/null || echo "?")
nm -C --size-sort -S "$bin" | awk '
  function hex2dec(h,   i, n, c) { n = 0; h = tolower(h); for (i = 1; i <= length(h); i++) { c = index("0123456789abcdef", substr(h, i, 1)) - 1; n = n * 16 + c } return n }
  $3 ~ /^[tTwW]$/ {
    size = hex2dec($2); name = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", name)
    # strip generic/impl wrappers: "<muros_ha::x::Y as core::fmt::Debug>::fmt" -> muros_ha::x
    gsub(/^<+/, "", name)
    split(name, parts, "::")
    key = parts[1]
    if (key == "muros_ha" && parts[2] != "") key = "muros_ha::" parts[2]
    sub(/[<( ].*$/, "", key)
    sum[key] += size; all += size
  }
  END {
    for (k in sum) printf "%9d  %s\n", sum[k], k
    printf "%9d  (all text symbols)\n", all
  }' | sort -rn | head -25
echo "stripped release binary: $total bytes"
