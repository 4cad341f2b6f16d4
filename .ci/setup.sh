#!/usr/bin/env bash
# Installs everything the demo and the test suites need on a fresh Debian 12 machine.
# Idempotent: a second run only checks.
set -euo pipefail

APT_PACKAGES=(
  keepalived conntrackd conntrack nftables dnsmasq iproute2 iputils-ping
  iperf3 socat udhcpc isc-dhcp-client busybox procps psmisc miniupnpd miniupnpd-nftables
  qemu-user-static musl-tools shellcheck file
  chromium chromium-driver python3 python3-pip
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null || { echo "setup: cargo not found (install rustup first)" >&2; exit 1; }
rustup target list --installed 2>/dev/null | grep -q x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl

python3 -c 'import selenium' 2>/dev/null || pip install -q selenium
# Cross builds: nightly rust-src + llvm-tools, zig (PyPI), cargo-zigbuild.
sh scripts/ci-setup.sh
echo "setup: ok"
