# Shared by the lab's /etc/init.d scripts. Sourced with ROOT set to the router
# directory (derived from the script's own location, so one copy per router works).
# shellcheck shell=sh
. "$ROOT/etc/lab.env"

pidfile() { echo "$ROOT/var/run/$1.pid"; }

# alive PID: exists and is not a zombie. Daemons orphaned by a hook are reparented to
# PID 1, which in a container may never reap them, so a dead daemon can linger as Z.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ]
}

is_running() {
	pf=$(pidfile "$1")
	[ -s "$pf" ] || return 1
	pid=$(cat "$pf")
	alive "$pid" || return 1
	# A recycled PID must not count: the process must live in this router's netns.
	[ "$(readlink "/proc/$pid/ns/net")" = "$(readlink /proc/self/ns/net)" ]
}

stop_pidfile() {
	pf=$(pidfile "$1")
	is_running "$1" || { rm -f "$pf"; return 0; }
	pid=$(cat "$pf")
	kill "$pid" 2>/dev/null
	i=0
	while alive "$pid" && [ $i -lt 50 ]; do sleep 0.02; i=$((i+1)); done
	alive "$pid" && kill -9 "$pid" 2>/dev/null
	rm -f "$pf"
}

dispatch() {
	case "$1" in
	start) is_running "$NAME" || do_start ;;
	stop) stop_pidfile "$NAME" ;;
	restart) stop_pidfile "$NAME"; do_start ;;
	# what muros-ha runs after rewriting a config the daemon reads at start only
	reload) if is_running "$NAME"; then stop_pidfile "$NAME"; do_start; fi ;;
	running|status) is_running "$NAME" ;;
	enabled) return 0 ;;
	*) echo "usage: $0 start|stop|restart|reload|running" >&2; return 2 ;;
	esac
}
