#!/bin/sh
# Wraps whichever notify hook the lab runs (seed or muros) so both are timed the same
# way: one line per call in <root>/var/log/hooks.log:
#   <start epoch ms> <end epoch ms> <exit code> <TYPE> <NAME> <STATE> [PRIO]
#   hook-timer.sh ROOT HOOK [HOOK-ARGS...] TYPE NAME STATE PRIO   (keepalived appends the last 4)
root=$1
shift
start=$(date +%s%3N)
if [ -e "$root/var/run/trace-hooks" ]; then
	# debugging aid: trace a shell hook with timestamps
	PS4='+ $(date +%s.%N | cut -c7-16) ' sh -x "$@" </dev/null >>"$root/var/log/hook.out" 2>&1
else
	"$@" </dev/null >>"$root/var/log/hook.out" 2>&1
fi
rc=$?
end=$(date +%s%3N)
n=$#
# the keepalived arguments are the last 4 (3 when there is no priority)
eval "t1=\${$((n-3))} t2=\${$((n-2))} t3=\${$((n-1))} t4=\${$n}"
echo "$start $end $rc $t1 $t2 $t3 $t4" >>"$root/var/log/hooks.log"
exit 0
