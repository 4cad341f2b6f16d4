#!/bin/sh
# with-run.sh RUNDIR CMD [ARG...]: run CMD with RUNDIR mounted on /run, in a mount
# namespace of its own (the host's /run is untouched).
#
# wireguard-go keeps its control socket in /var/run/wireguard/<dev>.sock and `wg` looks
# for it there; both paths are compiled in. Two routers and the internet server on one
# host all call their device wg0, so each runs them with its own /var/run (the router's
# root), as a router has. The PID is CMD's own (unshare and this script exec).
# Argument vectors only: nothing here is parsed by a shell.
if [ "${LAB_WITH_RUN:-}" != 1 ]; then
	LAB_WITH_RUN=1 exec unshare --mount --propagation private -- "$0" "$@"
fi
[ $# -ge 2 ] || { echo "usage: with-run.sh RUNDIR CMD [ARG...]" >&2; exit 2; }
mkdir -p "$1" && mount --bind "$1" /run || exit 1
shift
exec "$@"
