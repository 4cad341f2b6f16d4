#!/bin/sh
# The notify hook keepalived calls in the lab, whoever wrote keepalived.conf (the lab's
# template or `muros-ha render --hook <this file>`):
#
#   lab-hook.sh notify --root ROOT TYPE NAME STATE [PRIO]
#
# It runs the hook the lab was built with (LAB_HOOK in ROOT/etc/lab.env: `seed` =
# tests/lab/seed-hook.sh, `muros` = `muros-ha notify`) and times it the same way for
# both, one line per call in ROOT/var/log/hooks.log:
#   <start epoch ms> <end epoch ms> <exit code> <TYPE> <NAME> <STATE> [PRIO]
here=$(cd "$(dirname "$0")" && pwd)
[ "${1:-}" = notify ] && [ "${2:-}" = --root ] && [ -n "${3:-}" ] \
	|| { echo "usage: lab-hook.sh notify --root ROOT TYPE NAME STATE [PRIO]" >&2; exit 2; }
root=$3
shift 3
LAB_HOOK=seed LAB_MUROS_HA=
. "$root/etc/lab.env"
start=$(date +%s%3N)
case "$LAB_HOOK" in
muros) set -- "$LAB_MUROS_HA" notify --root "$root" "$@" ;;
*) set -- "$here/seed-hook.sh" --root "$root" "$@" ;;
esac
if [ -e "$root/var/run/trace-hooks" ] && [ "$LAB_HOOK" = seed ]; then
	# debugging aid: trace the shell hook with timestamps
	PS4='+ $(date +%s.%N | cut -c7-16) ' sh -x "$@" </dev/null >>"$root/var/log/hook.out" 2>&1
else
	"$@" </dev/null >>"$root/var/log/hook.out" 2>&1
fi
rc=$?
end=$(date +%s%3N)
shift $(($# - 4))
echo "$start $end $rc $*" >>"$root/var/log/hooks.log"
exit 0
