#!/bin/sh
# The cross binaries as daemon, peer, hook and config checker, not only `check`/`render`
# of the examples: the suites that run the shipped x86_64 binary (MUROS_HA_BIN), plus
# the notify hook's and the config checker's, run again on each router CPU's static
# binary from dist/, under qemu-user, against the real ubusd, conntrackd and network
# namespaces of the host. They also guard the MIPS-only code generation flags of
# scripts/cross-build.sh. Needs root and scripts/cross-build.sh's dist/.
#
#   tests/cross_qemu.sh [TRIPLE...]     default: aarch64, armv7, mipsel
#
# Not big-endian mips by default: under qemu-mips on this little-endian host the
# daemon's `status` hangs inside musl's getifaddrs after the first netlink reply
# (qemu-user translates NETLINK_ROUTE messages between byte orders; mipsel, the same
# code little-endian, passes). `tests/cross_qemu.sh mips-unknown-linux-musl` shows it.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
DIST=${DIST:-$TOP/dist}
[ $# -ge 1 ] || set -- aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT INT TERM
FAILED=""
for triple in "$@"; do
	# shellcheck disable=SC2100 # patterns and program names, not arithmetic
	case "$triple" in
	aarch64-*) qemu=qemu-aarch64-static ;;
	armv7-*) qemu=qemu-arm-static ;;
	mipsel-*) qemu=qemu-mipsel-static ;;
	mips-*) qemu=qemu-mips-static ;;
	*)
		echo "$0: unknown target $triple" >&2
		exit 2
		;;
	esac
	bin=$DIST/$triple/muros-ha
	if [ ! -x "$bin" ] || ! command -v "$qemu" >/dev/null 2>&1; then
		echo "== $triple: missing $bin or $qemu (run scripts/cross-build.sh; apt-get install qemu-user-static)"
		FAILED="$FAILED $triple"
		continue
	fi
	# The tests start MUROS_HA_BIN as a program: a two-line wrapper runs it under qemu
	# (exec, so signals reach qemu, which passes them to the guest).
	wrapper=$W/muros-ha-$triple
	# qemu by its full path: some tests run the binary with PATH=/nonexistent.
	printf '#!/bin/sh\nexec %s %s "$@"\n' "$(command -v "$qemu")" "$bin" >"$wrapper"
	chmod +x "$wrapper"
	echo "== $triple: daemon, peer and hook suites under $qemu"
	if ! (cd "$TOP" && MUROS_HA_BIN=$wrapper cargo test --locked --test daemon_ubus --test peer_pair --test peer_channel --test failover_e2e --test failover_pitfall1 --test failover_notify --test config_errors -- --test-threads=2); then
		FAILED="$FAILED $triple"
	fi
done
if [ -n "$FAILED" ]; then
	echo "== failed:$FAILED"
	exit 1
fi
echo "== all passed: $*"
