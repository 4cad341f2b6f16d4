# shellcheck shell=bash
# The shared half of a lab suite around one muros-ha service (`list service`): the
# VPN suites openvpn.sh and ipsec.sh. Sourced after lib.sh, with these set:
#   SUITE   the script's name, for messages ("openvpn.sh")
#   SVC     the init script and `list service` name ("openvpn")
#   FLOW    the tunnel flow's name: flowtool.py's status is flow-$FLOW.json, the
#           UDP-only probe's flow-${FLOW}udp.json (flowtool's UDP stops while its TCP
#           send blocks, so long outages are measured by udpprobe.py)
# and, by the suite: recovered R T0 (the tunnel is back through the new master R since
# T0 ms) and row_extra M O T0 KIND (the suite's own columns of one run).
# shellcheck disable=SC2034,SC2317 # variables read and functions called by the suites and lib.sh

skip_or_fail() {
	if [ "${CI:-}" = true ]; then echo "$SUITE: FAIL: $*" >&2; exit 1; fi
	echo "$SUITE: SKIP: $*"
	exit 0
}

# faults_ok NAME VALUE: VALUE is 1..20 words, each powercut or stop
faults_ok() {
	local f n=0
	for f in $2; do
		case $f in powercut | stop) n=$((n + 1)) ;; *) echo "$SUITE: $1 holds powercut or stop, not '$f'" >&2; exit 2 ;; esac
	done
	if [ "$n" -lt 1 ] || [ "$n" -gt 20 ]; then echo "$SUITE: 1..20 $1" >&2; exit 2; fi
}

# lib.sh's router-file writers, kept as svc_orig_write_{uci,misc,firewall} for the
# suite's own write_* to call first and then add to what they wrote.
for _f in write_uci write_misc write_firewall; do
	declare -F "$_f" >/dev/null || { echo "$SUITE: lib.sh has no $_f() to extend" >&2; exit 1; }
	eval "svc_orig_$_f() $(declare -f "$_f" | tail -n +2)"
done
unset _f

# `list service '$SVC'` in router R's config global, beside the lab's services
write_uci() {
	svc_orig_write_uci "$@" || return
	local f; f=$(root_of "$1")/etc/config/muros_ha
	sed -i "/^config global /a\\\\tlist service '$SVC'" "$f"
	grep -q "^	list service '$SVC'$" "$f" || lab_die "$1: could not add list service '$SVC' to $f"
}

# epoch ms of the first line of FILE at/after T0 ms matching the awk regex RE (the
# services' logs start their lines with "SECONDS.FRACTION")
log_ms_after() {
	awk -v t="$2" -v re="$3" '$1 ~ /^[0-9]+\.[0-9]+$/ && $1 * 1000 >= t && $0 ~ re {printf "%.0f\n", $1 * 1000; exit}' "$1" 2>/dev/null
}

# tunnel_flow_start CLIENT_NS SERVER_NS DST: flowtool's server on DST in SERVER_NS,
# its client and udpprobe.py in CLIENT_NS
tunnel_flow_start() {
	local cns=$1 sns=$2 dst=$3
	in_ns "$sns" python3 "$LAB_HERE/flowtool.py" server --bind "$dst" >"$LAB_DIR/$FLOW-flowtool-server.log" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	sleep 0.3
	rm -f "$LAB_DIR/flow-$FLOW.json" "$LAB_DIR/flow-$FLOW.stop" "$LAB_DIR/flow-${FLOW}udp.json" "$LAB_DIR/flow-${FLOW}udp.stop"
	in_ns "$cns" python3 "$LAB_HERE/flowtool.py" client --server "$dst" \
		--status "$LAB_DIR/flow-$FLOW.json" --stop-file "$LAB_DIR/flow-$FLOW.stop" \
		--duration 900 >"$LAB_DIR/flow-$FLOW.log" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	eval "FLOW_PID_$FLOW=$!"
	in_ns "$cns" python3 "$LAB_HERE/udpprobe.py" --server "$dst" \
		--status "$LAB_DIR/flow-${FLOW}udp.json" --stop-file "$LAB_DIR/flow-${FLOW}udp.stop" \
		--duration 900 >"$LAB_DIR/flow-${FLOW}udp.log" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	eval "FLOW_PID_${FLOW}udp=$!"
	wait_until 8 test -s "$LAB_DIR/flow-$FLOW.json" && wait_until 8 test -s "$LAB_DIR/flow-${FLOW}udp.json"
}

# flow_fresh PROTO [T0]: the tunnel flow's PROTO (udp: udpprobe.py, tcp: flowtool.py)
# had a reply within the last second, and after T0 ms (epoch)
flow_fresh() {
	local f=$LAB_DIR/flow-$FLOW.json
	[ "$1" = udp ] && f=$LAB_DIR/flow-${FLOW}udp.json
	python3 -c '
import json, sys, time
d = json.load(open(sys.argv[1])); last = d.get(sys.argv[2] + "_last")
ok = last is not None and time.time() - last < 1.0 and last * 1000 >= float(sys.argv[3])
sys.exit(0 if ok else 1)' "$f" "$1" "${2:-0}" 2>/dev/null
}

test_one_master() { [ "$(master_count)" = 1 ]; }
backup_hook_done() { [ -n "$(hook_line_after "$1" BACKUP "$2")" ]; }
only_on() { service_running "$1" "$SVC" && ! service_running "$(other "$1")" "$SVC"; }
not_on() { ! service_running "$1" "$SVC"; }
svc_where() { local r s=""; for r in ra rb; do service_running "$r" "$SVC" && s="$s $r"; done; echo "[${s# }]"; }

RESULTS=
# fail_now MESSAGE: what each router shows, the figures so far, exit 1
fail_now() {
	lab_log "FAIL: $*"
	local r
	for r in ra rb; do
		lab_log "  $r: VIP $(has_vip "$r" && echo yes || echo no), WAN '$(wan_addr "$r")', $SVC $(service_running "$r" "$SVC" && echo running || echo stopped)"
		tail -n 4 "$(root_of "$r")/var/log/hooks.log" 2>/dev/null | sed "s/^/    $r hooks.log: /" >&2
		grep -E "Entering|STATE|Stopped|Stopping|fault" "$(root_of "$r")/var/log/keepalived.log" 2>/dev/null | tail -n 6 | sed "s/^/    $r keepalived: /" >&2
	done
	[ "${LAB_KEEP:-0}" = 1 ] || lab_log "  (LAB_KEEP=1 keeps every log in $LAB_DIR)"
	report
	exit 1
}

# summary "TITLE:COLUMN"...: min / median / max of RESULTS' numeric COLUMN (0-based;
# column 0 is the fault kind) per fault kind
summary() {
	python3 - "$RESULTS" "$@" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]).read().split("\n") if l.strip()]
names = {"powercut": "power cut", "stop": "graceful stop"}
def num(x):
    try:
        return float(x)
    except ValueError:
        return None
def mmm(v):
    v = [x for x in v if x is not None]
    return "%.0f / %.0f / %.0f" % (min(v), statistics.median(v), max(v)) if v else "-"
kinds = [k for k in ("powercut", "stop") if any(r[0] == k for r in rows)]
print()
print("min / median / max per fault kind")
print("  %-24s" % "" + "".join("%-26s" % ("%s (%d)" % (names[k], sum(1 for r in rows if r[0] == k))) for k in kinds))
for spec in sys.argv[2:]:
    title, c = spec.rsplit(":", 1)
    print("  %-24s" % title + "".join("%-26s" % mmm([num(r[int(c)]) for r in rows if r[0] == k]) for k in kinds))
PY
}

# rel MS: MS - t (the fault's time), or - when MS is empty
rel() { if [ -n "$1" ]; then echo $(($1 - t)); else echo -; fi; }

# run_faults FAULTS: each fault (powercut | stop) of the master M, alternating (preempt
# off). After each: the tunnel is back through the other router within RECOVER_TIMEOUT s,
# it alone runs $SVC, the old master returns as BACKUP without it, the flow goes on
# (asserted); a row "KIND M O UDP_GAP TCP_GAP <row_extra>" goes to RESULTS.
run_faults() {
	local kind O t_back t_ret tcp_back gap_u gap_t
	i=0
	for kind in $1; do
		i=$((i + 1))
		O=$(other "$M")
		[ "$(masters)" = "$M" ] || fail_now "run $i: master is '$(masters)', expected $M"
		t=$(now_ms)
		if [ "$kind" = powercut ]; then lab_power_cut "$M"; else stop_keepalived "$M"; fi
		lab_log "run $i: $kind of $M"
		wait_until "$RECOVER_TIMEOUT" recovered "$O" "$t" \
			|| fail_now "run $i ($kind of $M): the tunnel carried no traffic $RECOVER_TIMEOUT s after the fault (masters: '$(masters)', $SVC on $(svc_where))"
		t_back=$(now_ms)
		[ "$(masters)" = "$O" ] || fail_now "run $i: after the $kind of $M the master is '$(masters)', expected $O"
		wait_until 5 only_on "$O" || fail_now "run $i: $SVC on $(svc_where), expected on $O only"
		# the old master returns (boots / keepalived starts) and settles as BACKUP without it
		t_ret=$(now_ms)
		if [ "$kind" = powercut ]; then lab_power_on "$M"; else start_keepalived "$M"; fi
		wait_until 15 backup_hook_done "$M" "$t_ret" || fail_now "run $i: $M did not come back as BACKUP"
		wait_until 5 not_on "$M" || fail_now "run $i: the returned BACKUP $M runs $SVC"
		# TCP retransmission backoff may bring the TCP flow back later than the tunnel
		tcp_back=1
		wait_until 15 flow_fresh tcp "$t" || { tcp_back=0; lab_log "run $i: the tunnel's TCP flow had no reply 15 s after the tunnel was back (retransmission backoff)"; }
		wait_until 5 flow_fresh udp "$t_back" || fail_now "run $i: the tunnel flow stopped after $M returned"
		sleep 0.3
		gap_u=$(flow_gap_after "${FLOW}udp" udp "$t")
		gap_t=-; [ "$tcp_back" = 1 ] && gap_t=$(flow_gap_after "$FLOW" tcp "$t")
		echo "$kind $M $O ${gap_u:-0} ${gap_t:-0} $(row_extra "$M" "$O" "$t" "$kind")" >>"$RESULTS"
		lab_log "run $i: $(tail -n 1 "$RESULTS")"
		M=$O
		sleep 1
	done
	flow_stop "$FLOW"
	flow_stop "${FLOW}udp"
}
