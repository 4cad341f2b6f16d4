#!/bin/sh
# The seed-style keepalived notify hook, for comparison with `muros-ha notify`.
#
# It is the shell script of the source blog (ifup/ifdown wan + /etc/init.d services)
# joined with conntrack-tools' primary-backup.sh sequence, adapted to a lab router
# that is a directory: every path is under --root, netifd is reached through that
# router's own ubusd.
#
#   seed-hook.sh --root DIR TYPE NAME STATE [PRIO]     (keepalived appends the last 4)
set -u
[ "${1:-}" = "--root" ] || { echo "usage: seed-hook.sh --root DIR TYPE NAME STATE [PRIO]" >&2; exit 2; }
ROOT=$2
shift 2
STATE=${3:-}

UBUS="${UBUS:-/work/shared/openwrt-tools/bin/ubus}"
CONF="$ROOT/etc/conntrackd/conntrackd.conf"

ubus_wan() { "$UBUS" -s "$ROOT/var/run/ubus/ubus.sock" -t 5 call network.interface.wan "$1"; }
ifup_wan() { ubus_wan up; }
ifdown_wan() { ubus_wan down; }

services() {
	for s in dnsmasq odhcpd miniupnpd; do
		[ -x "$ROOT/etc/init.d/$s" ] && "$ROOT/etc/init.d/$s" "$1" >/dev/null 2>&1
	done
}

ct() { conntrackd -C "$CONF" "$@" >/dev/null 2>&1; }

ensure_conntrackd() {
	ct -s && return 0
	# A SIGKILLed conntrackd leaves its lock file behind and the next start refuses
	# to run (pitfall 6): remove it when no process holds it.
	# conntrackd's lock is an O_EXCL file, not a held lock: no answer on the control
	# socket means nobody owns it.
	rm -f "$ROOT/var/lock/conntrackd.lock"
	conntrackd -C "$CONF" -d </dev/null >/dev/null 2>&1
}

case "$STATE" in
MASTER)
	# primary-backup.sh "primary": commit the external cache, flush, resync, bulk send.
	ct -c
	ct -f
	ct -R
	ct -B
	ifup_wan
	services start
	;;
BACKUP)
	ifdown_wan
	services stop
	# primary-backup.sh "backup": make sure the daemon runs, shorten timers, ask for a resync.
	ensure_conntrackd
	ct -t
	ct -n
	;;
FAULT)
	ifdown_wan
	services stop
	ct -t
	;;
STOP)
	ifdown_wan
	services stop
	;;
*)
	logger -t seed-hook "unknown state transition: $STATE" 2>/dev/null
	exit 1
	;;
esac
exit 0
