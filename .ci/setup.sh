#!/usr/bin/env bash
# Installs everything the demo and the test suites need on a fresh Debian 12 machine,
# as root. Idempotent: a second run only checks.
#
# Toolchains come from the repository's own pins, never from what the machine happens
# to have: rust-toolchain.toml (the stable release for host builds and tests) and
# scripts/toolchain.env (the dated nightly for the router builds, zig, cargo-zigbuild).
# Works with empty CARGO_HOME and RUSTUP_HOME: rustup installs both toolchains.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  keepalived conntrackd conntrack nftables dnsmasq iproute2 iputils-ping
  iperf3 socat udhcpc isc-dhcp-client busybox procps psmisc miniupnpd miniupnpd-nftables radvd
  wireguard-go wireguard-tools openvpn strongswan-charon strongswan-swanctl libcharon-extra-plugins
  qemu-user-static musl-tools shellcheck file
  chromium chromium-driver python3 python3-pip
  ca-certificates curl
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

# rustup itself: the machine's (in ~/.cargo/bin on these machines), else Debian's
# package where the release has one, else the official installer.
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
export PATH="$CARGO_HOME/bin:$HOME/.cargo/bin:$PATH"
if ! command -v rustup >/dev/null 2>&1; then
  echo "setup: rustup not found, installing it"
  if ! { apt-get install -y -qq --no-install-recommends rustup >/dev/null 2>&1 && command -v rustup >/dev/null; }; then
    curl -sSf --proto '=https' --tlsv1.2 https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none --no-modify-path
  fi
fi

# The stable toolchain named by rust-toolchain.toml, with its components and targets.
# `rustup toolchain install` with no name installs the active (pinned) toolchain.
rustup toolchain install --no-self-update >/dev/null 2>&1 || rustup show active-toolchain >/dev/null
echo "setup: host toolchain $(rustc --version)"
python3 -c 'import selenium' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore selenium
# Router builds: the pinned nightly with rust-src + llvm-tools, zig (PyPI), cargo-zigbuild.
sh scripts/ci-setup.sh
echo "setup: ok"
