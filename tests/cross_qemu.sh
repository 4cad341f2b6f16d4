#!/bin/sh
# The cross binaries as daemon, peer, hook and config checker, not only `check`/`render`
# of the examples: the suites that run the shipped x86_64 binary (MUROS_HA_BIN), plus
# the notify hook's and the config checker's, run again on each router CPU's static
# binary from dist/, under qemu-user, against the real ubusd, conntrackd and network
# namespaces of the host. They also guard the MIPS-only code generation flags of
# scripts/cross-build.sh. Needs root and scripts/cross-build.sh's dist/.
#
#   tests/cross_qemu.sh [TRIPLE...]     default: aarch64, armv7, mipsel, mips
#
# Big-endian mips runs all but the two suites that drive the host's conntrackd through
# its control socket (failover_e2e, failover_pitfall1): that request is a native-endian
# C int, so a big-endian guest talking to a little-endian host's conntrackd sends a
# command it does not know. On a router both ends share the byte order. (Until our own
# netlink address dump replaced getifaddrs, `status` also hung there: musl's
# getifaddrs on qemu's byte-swapped netlink replies.)
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
DIST=${DIST:-$TOP/dist}
[ $# -ge 1 ] || set -- aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl mips-unknown-linux-musl

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
	suites="--test daemon_ubus --test peer_pair --test peer_channel --test failover_notify --test config_errors"
	case "$triple" in
	mips-*) ;; # see the header: the host's conntrackd speaks the other byte order
	*) suites="$suites --test failover_e2e --test failover_pitfall1" ;;
	esac
	echo "== $triple: daemon, peer, hook and checker suites under $qemu"
	# shellcheck disable=SC2086 # $suites is a list of cargo arguments
	if ! (cd "$TOP" && MUROS_HA_BIN=$wrapper cargo test --locked $suites -- --test-threads=2); then
		FAILED="$FAILED $triple"
	fi
done
if [ -n "$FAILED" ]; then
	echo "== failed:$FAILED"
	exit 1
fi
echo "== all passed: $*"
