#!/usr/bin/env bash
# Fault matrix for the muros-ha lab pair. Each case builds a fresh pair (names unique
# to this run and case), starts a long TCP flow + UDP stream through the VIP, injects
# the fault, and checks:
#   - the TCP flow survived (no reset, bytes still flowing);
#   - the new master's WAN address equals the old one;
#   - dnsmasq/odhcpd/miniupnpd run on the master only, the WAN is up on the master only;
#   - exactly one master after recovery;
#   - the LAN client, which took address, gateway and DNS by DHCP from the master,
#     still has that one lease (gateway and DNS = the VIP, the DNS server answers),
#     never renewed nor rebound: the failover did not need a new lease.
#
#   sudo tests/lab/faults.sh                       # all cases, HOOK=seed, VRRPv2 advert 1 s
#   sudo CASES="1 2 4" HOOK=muros tests/lab/faults.sh
#   sudo VRRP_VERSION=3 ADVERT=0.1 tests/lab/faults.sh
#
# Prints PASS/FAIL per case and `N passed, M failed`; exit status 1 when any failed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
CASES=${CASES:-1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17}
RUN_ID=$$
PASSED=0 FAILED=0

# ---- checks shared by every case (run inside the case's subshell)
REASONS=()
bad() { REASONS+=("$*"); }
note() { NOTES+=("$*"); }

# converged MASTER WAN_BEFORE: wait until R is the only master with the WAN and the
# services, then check all of it.
converged() {
	local m=$1 want_wan=$2 o; o=$(other "$m")
	wait_until 20 test_only_master "$m" || bad "master is '$(masters)', expected $m"
	wait_until 10 test_wan_is "$m" "$want_wan" || bad "WAN on $m is '$(wan_addr "$m")', expected $want_wan"
	wait_until 10 test_services "$m" || bad "services on $m: [$(services_on "$m")], on $o: [$(services_on "$o")]"
	wait_until 5 test_no_wan "$o" || bad "WAN still up on $o: $(wan_addr "$o")"
}
test_only_master() { [ "$(masters)" = "$1" ]; }
test_wan_is() { [ "$(wan_addr "$1")" = "$2" ]; }
test_split_brain() { [ "$(masters)" = "ra rb" ]; }
test_no_wan() { [ -z "$(wan_addr "$1")" ]; }
test_services() {
	[ "$(services_on "$1")" = "dnsmasq odhcpd miniupnpd" ] && [ -z "$(services_on "$(other "$1")")" ]
}

# flow_survived T_EVENT BYTES_AT_EVENT: no reset, more bytes since, replies fresh.
flow_survived() {
	local t=$1 b=$2 now_b
	wait_until 8 flow_alive main || true
	sleep 1
	now_b=$(flow_get main tcp_bytes)
	[ "$(flow_get main tcp_reset)" = false ] || bad "TCP flow reset: $(flow_get main tcp_error)"
	[ "${now_b:-0}" -gt "$b" ] || bad "no TCP bytes since the fault ($b -> $now_b)"
	flow_alive main || bad "TCP flow stalled (no reply in the last second)"
	local l; while IFS= read -r l; do [ -z "$l" ] || bad "$l"; done <<<"$(client_kept_lease)"
	if [ "$WAN_MODE" = static ]; then
		# issue 17 §2: the server sees every flow from the WAN VIP, before and after
		local src; src=$(srv_tcp_sources)
		[ "$src" = "$WAN_VIP" ] || bad "the internet server sees TCP flows from '$src', not only the WAN VIP $WAN_VIP"
		note "server sees $src"
	fi
	note "gap tcp $(flow_gap_after main tcp "$t") ms udp $(flow_gap_after main udp "$t") ms"
}

# The source addresses of the TCP connections the internet server holds, sorted, unique.
srv_tcp_sources() {
	# (to its internet address: case 17's tunnel flow ends on its tunnel address)
	ip netns exec "$NS_SRV" ss -tnH state established src "$SRV_IP" 2>/dev/null | awk '{a=$4; sub(/:[0-9]+$/, "", a); print a}' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# backup_reaches_internet R: router R's own TCP connection to the internet server
# echoes a line (issue 14: on BACKUP its WAN is down; muros-ha routes it via the VIP).
backup_reaches_internet() {
	rx "$1" timeout 4 python3 -c 'import socket,sys
s = socket.create_connection((sys.argv[1], 5001), timeout=2)
s.sendall(b"backup\n")
sys.exit(0 if s.recv(16) == b"backup\n" else 1)' "$SRV_IP" 2>/dev/null
}

begin() {  # build the pair, wait for ra as master with a lease, start traffic
	lab_up
	lab_wait_master ra 15 || { bad "ra never became master"; return 1; }
	lab_wait_wan ra 10 || { bad "ra got no WAN lease"; return 1; }
	wait_until 5 test_services ra || bad "services not only on ra at start"
	# The product's backup route (the seed recipe has none, nor the lab's own configs).
	if [ "$HOOK" = muros ] && [ "$CONFIGS" = render ]; then
		wait_until 5 backup_reaches_internet rb || bad "the BACKUP rb cannot reach the internet server through the VIP ($(rx rb ip -4 route show default | tr '\n' ';'))"
	fi
	# The product's daemon runs on both routers, as on a router (the split-brain watch,
	# the fence, the IPv6 route withdrawal are its work).
	if [ "$HOOK" = muros ] && [ "$CONFIGS" = render ] && [ "${NO_DAEMONS:-0}" != 1 ]; then start_daemons || bad "the daemons did not start"; fi
	WAN0=$(wan_addr ra)
	flow_start main || { bad "flow did not start"; return 1; }
	sleep 1
	flow_alive main || { bad "flow not running before the fault"; return 1; }
}
event() { T_EV=$(now_ms); B_EV=$(flow_get main tcp_bytes); }

# ---- the cases
case_1() {  # graceful keepalived stop on the master
	begin || return
	event; stop_keepalived ra
	converged rb "$WAN0"; flow_survived "$T_EV" "$B_EV"
	event; start_keepalived ra
	converged ra "$WAN0"; flow_survived "$T_EV" "$B_EV"
}
case_2() {  # SIGKILL keepalived on the master (the procd stand-in respawns it)
	begin || return
	event; lab_kill_keepalived ra
	sleep 6
	converged ra "$WAN0"; flow_survived "$T_EV" "$B_EV"
}
case_3() {  # SIGKILL conntrackd on the master, then a failover
	begin || return
	sleep 1
	local p; p=$(conntrackd_pid ra)
	[ -n "$p" ] && kill -9 $p
	event; stop_keepalived ra
	converged rb "$WAN0"; flow_survived "$T_EV" "$B_EV"
	event; start_keepalived ra
	converged ra "$WAN0"; flow_survived "$T_EV" "$B_EV"
	[ -n "$(conntrackd_pid ra)" ] || note "conntrackd not running again on ra (nothing restarted it)"
}
case_4() {  # master power cut, then it comes back
	begin || return
	event; lab_power_cut ra
	converged rb "$WAN0"; flow_survived "$T_EV" "$B_EV"
	event; lab_power_on ra
	if [ "$PREEMPT" = 1 ]; then converged ra "$WAN0"; else converged rb "$WAN0"; fi
	flow_survived "$T_EV" "$B_EV"
}
case_5() {  # master LAN link down
	begin || return
	event; ip -n "${NS[ra]}" link set lan0 down
	converged rb "$WAN0"; flow_survived "$T_EV" "$B_EV"
	event; ip -n "${NS[ra]}" link set lan0 up
	converged ra "$WAN0"; flow_survived "$T_EV" "$B_EV"
}
case_6() {  # master WAN parent link down (track_interface)
	begin || return
	event; ip -n "${NS[ra]}" link set wanp down
	converged rb "$WAN0"; flow_survived "$T_EV" "$B_EV"
	event; ip -n "${NS[ra]}" link set wanp up
	converged ra "$WAN0"; flow_survived "$T_EV" "$B_EV"
}
case_7() {  # sync link down: no role change
	begin || return
	local hooks_before; hooks_before=$(cat "$(root_of ra)/var/log/hooks.log" "$(root_of rb)/var/log/hooks.log" | wc -l)
	event; ip -n "${NS[ra]}" link set sync0 down
	sleep 4
	converged ra "$WAN0"; flow_survived "$T_EV" "$B_EV"
	local hooks_after; hooks_after=$(cat "$(root_of ra)/var/log/hooks.log" "$(root_of rb)/var/log/hooks.log" | wc -l)
	[ "$hooks_after" = "$hooks_before" ] || bad "a role change happened ($((hooks_after-hooks_before)) hook calls)"
	ip -n "${NS[ra]}" link set sync0 up
}
case_8() {  # flapping: 20 failovers under one flow
	begin || return
	local i m o; m=ra
	for i in $(seq 1 20); do
		o=$(other "$m")
		event
		if [ "$PREEMPT" = 1 ] && [ "$m" = rb ]; then
			start_keepalived ra          # ra preempts: the failover is its return
		else
			stop_keepalived "$m"
		fi
		converged "$o" "$WAN0"
		[ ${#REASONS[@]} -eq 0 ] || { bad "at failover $i"; break; }
		[ "$m" = ra ] && [ "$PREEMPT" = 1 ] || start_keepalived "$m"
		m=$o
	done
	flow_survived "$T_EV" "$B_EV"
	note "$i failovers, longest gap over all: tcp $(flow_get main tcp_max_gap_ms) ms udp $(flow_get main udp_max_gap_ms) ms"
}
# status.alerts of the muros-ha daemon on router $1 (kinds, space separated)
daemon_alerts() {
	rx "$1" "$UBUS" -s "$(root_of "$1")/var/run/ubus/ubus.sock" -t 2 call muros_ha status 2>/dev/null \
		| python3 -c 'import json,sys; print(" ".join(a["kind"] for a in json.load(sys.stdin).get("alerts", [])))' 2>/dev/null
}
daemon_alert() { case " $(daemon_alerts "$1") " in *" $2 "*) return 0 ;; esac; return 1; }
no_daemon_alert() { ! daemon_alert "$@"; }
split_brain_reported() { daemon_alert ra split_brain || daemon_alert rb split_brain; }
case_9() {  # VRRP auth mismatch: split brain must be visible, repair converges
	if [ "$VRRP_VERSION" != 2 ]; then note "VRRPv3 has no authentication: nothing to mismatch"; SKIPPED=1; return; fi
	# Phase 1 is keepalived alone (its keepalived.conf is hand-edited, which the daemon
	# would judge by the password it rendered); phase 2 adds the daemons.
	NO_DAEMONS=1 begin || return
	local conf; conf="$(root_of rb)/etc/keepalived/keepalived.conf"
	# Phase 1: a short split brain, repaired at once: the flow must survive it.
	event
	stop_keepalived rb
	sed -i "s/auth_pass .*/auth_pass wrong99/" "$conf"
	start_keepalived rb
	if wait_until 10 test_split_brain; then
		note "split brain seen: both routers hold the VIP"
	else
		bad "no split brain with mismatched secrets (masters: '$(masters)') -- cannot prove detection"
	fi
	grep -qiE "auth|passw" "$(root_of ra)/var/log/keepalived.log" "$(root_of rb)/var/log/keepalived.log" \
		&& note "keepalived logged the authentication failure" \
		|| note "keepalived logged nothing about authentication (pitfall 3: silent)"
	stop_keepalived rb
	write_keepalived_conf rb
	event; start_keepalived rb
	converged ra "$WAN0"
	# the client may still send to rb's MAC until ra re-announces the VIP
	# (garp_master_refresh in keepalived.conf); give it that long
	wait_until 12 flow_alive main
	flow_survived "$T_EV" "$B_EV"
	[ "$HOOK" = muros ] && [ "$CONFIGS" = render ] || return 0
	# Phase 2 (issue 14 §4): the daemons' own watch on both routers. The admin gives rb
	# another password (UCI, render, keepalived restart, SIGHUP as procd sends it). rb
	# drops ra's adverts, claims MASTER after the master-down interval, and the router
	# VRRP would make backup (rb, priority 100) fences itself at once: VIP released, WAN
	# down, services stopped. Both report it and the client's flow lives on.
	start_daemons || bad "the daemons did not start"
	event
	set_vrrp_password rb wrong99
	local t0; t0=$(now_ms)
	if wait_until 20 daemon_fenced rb; then
		note "rb fenced itself $(( $(now_ms) - t0 )) ms after its keepalived restarted with another password"
	else
		bad "phase 2: rb did not fence itself (rb alerts: [$(daemon_alerts rb)], masters '$(masters)')"
	fi
	# Both report it: the alerts while it lasts, status.last_split_brain after.
	local r
	for r in ra rb; do
		wait_until 5 split_brain_recorded "$r" || bad "phase 2: $r has no status.last_split_brain"
	done
	daemon_alert rb fenced || bad "phase 2: rb does not report its fence (rb: [$(daemon_alerts rb)])"
	note "ra: $(daemon_status ra | python3 -c 'import json,sys; e=json.load(sys.stdin)["last_split_brain"]; print("split brain %ss, fenced=%s" % ((e["end"] or 0) - e["start"], e["fenced"]))' 2>/dev/null)"
	daemon_alert rb vrrp_mismatch || bad "phase 2: rb does not report the password mismatch (rb: [$(daemon_alerts rb)])"
	converged ra "$WAN0"
	wait_until 12 flow_alive main
	flow_survived "$T_EV" "$B_EV"
	history_mentions rb fenced || bad "phase 2: rb's history has no fenced FAULT transition"
	# Repair on rb: its daemon hears ra's adverts accepted again and lifts the fence.
	t0=$(now_ms)
	set_vrrp_password rb "${R_PASS[rb]}"
	if wait_until 15 not_fenced rb; then
		note "fence lifted $(( $(now_ms) - t0 )) ms after the repair"
	else
		bad "phase 2: rb still fenced after the repair (rb: [$(daemon_alerts rb)])"
	fi
	converged ra "$WAN0"
	local k
	for k in fenced split_brain vrrp_mismatch; do
		wait_until 10 no_daemon_alert rb "$k" || bad "rb still reports $k after the repair"
	done
	wait_until 10 no_daemon_alert ra split_brain || bad "ra still reports split_brain after the repair"
	return 0
}
# Issue 14 §3: a neighbour cluster on the same LAN. With another VRID nobody reacts;
# with ours (another VIP, another password) the daemons report a VRID collision and
# neither fences; the pair keeps its master.
case_11() {
	[ "$HOOK" = muros ] && [ "$CONFIGS" = render ] || { note "needs HOOK=muros CONFIGS=render"; SKIPPED=1; return; }
	begin || return
	lab_foreign_vrrp $((VRID + 1)) 192.0.2.200 other
	sleep "$(awk -v a="$ADVERT" 'BEGIN{print (a*8 < 5) ? 5 : a*8}')"
	local r
	for r in ra rb; do
		[ -z "$(daemon_alerts "$r")" ] || bad "another VRID raised alerts on $r: [$(daemon_alerts "$r")]"
	done
	test_only_master ra || bad "another VRID moved the master ('$(masters)')"
	note "VRID $((VRID + 1)) next door: no alert"
	event
	lab_foreign_vrrp "$VRID" 192.0.2.200 other
	if wait_until 15 collision_reported; then
		note "VRID $VRID next door: vrid_collision (ra: [$(daemon_alerts ra)] rb: [$(daemon_alerts rb)])"
	else
		bad "our VRID on a foreign router was not reported (ra: [$(daemon_alerts ra)] rb: [$(daemon_alerts rb)])"
	fi
	for r in ra rb; do daemon_fenced "$r" && bad "$r fenced itself over a foreign router"; done
	if [ "$VRRP_VERSION" = 2 ]; then
		# v2: the foreign adverts fail authentication, so the pair is not disturbed.
		converged ra "$WAN0"
		flow_survived "$T_EV" "$B_EV"
	else
		note "VRRPv3 (no authentication): masters with a foreign router on our VRID: '$(masters)'"
	fi
	return 0
}
# Issue 14 §1 (IPv6): a SLAAC client. Router advertisements come from the master only
# (the odhcpd stand-in runs radvd); the client's default route is the advertising
# router's link-local address, so it must follow the master. A ping through that
# default route (to an address both routers own) measures the gap; the figures are
# printed, the bounds below are liveness only.
case_12() {
	[ "$VRRP_VERSION" = 3 ] || { note "IPv6 VIPs need VRRPv3 (check refuses them with vrrp_version 2)"; SKIPPED=1; return; }
	command -v radvd >/dev/null || { bad "radvd is not installed (.ci/setup.sh installs it)"; return; }
	# shellcheck disable=SC2034 # read by lib.sh (write_uci, lab_topology)
	IPV6=1
	begin || return
	wait_until 20 client_v6_via ra || { bad "the SLAAC client has no default route via ra (routers: $(client_v6_routers))"; return; }
	note "client $(client_v6_addr) by SLAAC, default via ra"
	in_ns "$NS_CL" ping -6 -n -D -i 0.05 -W 1 "$V6_REMOTE" >"$LAB_DIR/ping6.log" 2>&1 &
	LAB_PIDS+=($!)
	sleep 2
	v6_step "graceful stop of ra" rb stop_keepalived ra
	v6_step "ra back (preempts)" ra start_keepalived ra
	v6_step "power cut of ra" rb lab_power_cut ra
	return 0
}
# v6_step TITLE NEW_MASTER CMD...: run CMD, wait for NEW_MASTER to be the client's
# default router and for replies to flow, note the figures.
v6_step() {
	local title=$1 m=$2 t0 t_route=""; shift 2
	event; t0=$(now_ms)
	"$@"
	converged "$m" "$WAN0"
	if wait_until 60 client_v6_via "$m"; then t_route=$(( $(now_ms) - t0 )); fi
	[ -n "$t_route" ] || bad "$title: the client's IPv6 default route never went to $m (routers: $(client_v6_routers))"
	wait_until 30 v6_replies_after "$(( $(now_ms) + 500 ))" || bad "$title: no IPv6 replies through the default route afterwards"
	# The old master's route must go too: withdrawn by its RA daemon when it stops, or
	# for it by the new master's daemon after a power cut (a liveness bound; without
	# the withdrawal the client keeps it for the whole router lifetime, 30 s here).
	wait_until 10 client_v6_only_via "$m" || bad "$title: the client still routes via the old master too (routers: $(client_v6_routers))"
	note "IPv6 $title: default route via $m after ${t_route:-?} ms, other default routes: [$(client_v6_routers | sed "s/$(router_ll "$m")//")], ping gap $(v6_gap_after "$t0") ms"
}
# v6_replies_after MS: a ping reply stamped after MS (epoch ms) arrived
v6_replies_after() {
	sleep 0.6
	awk -v t="$1" -F'[][]' '/bytes from/ && $2 * 1000 > t {found = 1} END {exit !found}' "$LAB_DIR/ping6.log"
}
# v6_gap_after MS: the longest silence between replies (ms) from MS on
v6_gap_after() {
	awk -v t="$1" -F'[][]' '/bytes from/ { s = $2 * 1000; if (s > t - 100) { if (prev != "" && s - prev > gap) gap = s - prev } ; prev = s }
		END { printf "%.0f", gap }' "$LAB_DIR/ping6.log"
}
# Issue 16: maintenance moves the master with preempt off as well as on. Entering
# maintenance on the master lowers its priority and yields (a moment of FAULT, so
# keepalived sends a priority-0 advert): the peer takes over at once, nopreempt or not,
# and the flow survives. Leaving maintenance moves the master back only with preempt.
# Then the other way round, so it works in both directions. Then, paired, ten planned
# handovers back and forth (`ubus call muros_ha handover`): each must move the master,
# with the flow alive after each.
case_13() {
	[ "$HOOK" = muros ] && [ "$CONFIGS" = render ] || { note "needs HOOK=muros CONFIGS=render"; SKIPPED=1; return; }
	local p
	for p in 0 1; do PREEMPT=$p sub_run "m$p" "preempt=$p" maintenance_both_ways; done
}
maintenance_both_ways() {
	begin || exit 1
	maint_moves ra rb "maintenance on ra"
	maintenance ra false
	sleep 3
	if [ "$PREEMPT" = 1 ]; then converged ra "$WAN0"; else converged rb "$WAN0"; fi
	if [ "$PREEMPT" = 1 ]; then maint_moves ra rb "maintenance on ra again"; maintenance ra false; fi
	# now rb is master either way (preempt 1: ra back in maintenance just now)
	converged rb "$WAN0"
	maint_moves rb ra "maintenance on rb"
	maintenance rb false
	sleep 2
	pair_daemons || { bad "pairing the daemons failed"; exit 1; }
	handovers_back_and_forth 10
}
handover_call() {
	rx "$1" "$UBUS" -s "$(root_of "$1")/var/run/ubus/ubus.sock" -t 10 call muros_ha handover >/dev/null 2>&1
}
# handovers_back_and_forth N: N handovers, each from the master to the other router
handovers_back_and_forth() {
	local i m o t0 took=""
	for i in $(seq 1 "$1"); do
		m=$(masters)
		case "$m" in ra|rb) ;; *) bad "handover $i: no single master ('$m')"; return ;; esac
		o=$(other "$m")
		t0=$(now_ms)
		handover_call "$m" || { bad "handover $i: the call on $m failed"; return; }
		wait_until 5 test_only_master "$o" || { bad "handover $i: $o is not master ('$(masters)')"; return; }
		took="$took $(( $(now_ms) - t0 ))"
		wait_until 10 test_wan_is "$o" "$WAN0" || bad "handover $i: WAN on $o is '$(wan_addr "$o")'"
		wait_until 5 flow_alive main || bad "handover $i: the flow is not alive"
		sleep 0.5
	done
	[ "$(flow_get main tcp_reset)" = false ] || bad "TCP flow reset during the handovers"
	note "$1 handovers, each moved the master; call -> other master (ms):$took"
}
# maintenance R true|false: what LuCI's button and scripts call
maintenance() {
	rx "$1" "$UBUS" -s "$(root_of "$1")/var/run/ubus/ubus.sock" -t 10 call muros_ha maintenance "{\"enable\": $2}" >/dev/null
}
# maint_moves FROM TO TITLE: maintenance on FROM (the master) moves the master to TO
maint_moves() {
	local from=$1 to=$2 t0
	event; t0=$(now_ms)
	maintenance "$from" true || bad "$3: the maintenance call failed"
	if wait_until 15 test_only_master "$to"; then
		note "$3: $to master after $(( $(now_ms) - t0 )) ms"
	fi
	converged "$to" "$WAN0"
	flow_survived "$T_EV" "$B_EV"
	no_daemon_alert "$from" handover_failed || bad "$3: $from reports handover_failed: $(daemon_alerts "$from")"
}
collision_reported() { daemon_alert ra vrid_collision || daemon_alert rb vrid_collision; }

split_brain_recorded() {
	daemon_status "$1" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("last_split_brain") else 1)' 2>/dev/null
}
daemon_fenced() {
	daemon_status "$1" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("fence") else 1)' 2>/dev/null
}
not_fenced() { daemon_answers "$1" && ! daemon_fenced "$1"; }
history_mentions() {
	rx "$1" "$UBUS" -s "$(root_of "$1")/var/run/ubus/ubus.sock" -t 2 call muros_ha history 2>/dev/null | grep -q "$2"
}
# set_vrrp_password R PASS: what an admin does on R: UCI, render, keepalived restart,
# and the SIGHUP procd's reload trigger sends the daemon.
set_vrrp_password() {
	local r=$1 root; root=$(root_of "$r")
	sed -i "s/option password .*/option password '$2'/" "$root/etc/config/muros_ha"
	stop_keepalived "$r"
	render_configs "$r"
	start_keepalived "$r"
	[ -n "${DPID[$r]:-}" ] && kill -HUP "${DPID[$r]}" 2>/dev/null
	return 0
}
# sub_run TAG TITLE FUNCTION: FUNCTION on a fresh pair of its own (a subshell with its
# own LAB_ID, REASONS and NOTES; variables set before the call, such as PREEMPT, reach
# lab_init); its reasons and notes join the case's, prefixed with TITLE.
sub_run() {
	local tag=$1 title=$2 body=$3
	(
		LAB_ID=${LAB_ID}$tag
		lab_init
		REASONS=() NOTES=()
		"$body"
		for r in "${REASONS[@]}"; do echo "REASON $title: $r"; done
		echo "NOTE $title: ${NOTES[*]}"
		[ ${#REASONS[@]} -eq 0 ]
	) >"$CASE_OUT.$tag" 2>>"$CASE_OUT.err" || bad "$title failed"
	grep -h '^REASON' "$CASE_OUT.$tag" | sed 's/^REASON //' >>"$CASE_OUT.reasons"
	note "$(grep -h '^NOTE' "$CASE_OUT.$tag" | sed 's/^NOTE //')"
}

case_10() {  # old master returns, preempt on and off
	local p
	for p in 1 0; do PREEMPT=$p sub_run "p$p" "preempt=$p" old_master_returns; done
}
old_master_returns() {
	begin || exit 1
	event; lab_power_cut ra
	converged rb "$WAN0"; flow_survived "$T_EV" "$B_EV"
	event; lab_power_on ra
	sleep 5
	if [ "$PREEMPT" = 1 ]; then converged ra "$WAN0"; else converged rb "$WAN0"; fi
	flow_survived "$T_EV" "$B_EV"
}

# Issue 17 §1: upstream health checks (ICMP to the internet server, 1 s, fall 3, rise
# 2), the routers paired over the peer link (which tells each its peer's upstream).
#  a) the master's upstream is blackholed at the ISP while its link stays up: one
#     failover within interval x fall + the usual gap, the flow survives, the reason is
#     in history, and the old master (demoted to priority 1) does not preempt back;
#  b) the ISP loses the internet for both: at most one transition, then stable, and
#     "upstream down on both" in status and history; the alert clears when it is back.
case_14() {
	[ "$HOOK" = muros ] && [ "$CONFIGS" = render ] || { note "needs HOOK=muros CONFIGS=render"; SKIPPED=1; return; }
	# HEALTH is read by lib.sh (write_uci)
	HEALTH=1 sub_run ha a upstream_master_only
	HEALTH=1 sub_run hb b upstream_both
}
# begin, pair the routers, wait for ra's first passing upstream round
health_pair() {
	begin || exit 1
	pair_daemons || { bad "pairing the daemons failed"; exit 1; }
	wait_until 10 health_is ra ok || bad "ra's upstream check never passed: $(health_of ra)"
}
upstream_master_only() {
	local t0 took
	health_pair
	event; t0=$(now_ms)
	lab_isp_drop_port wa
	if wait_until 20 test_only_master rb; then
		took=$(( $(now_ms) - t0 ))
		note "ra's upstream blackholed: rb master after $took ms (detection 3 x 1 s)"
	fi
	converged rb "$WAN0"
	flow_survived "$T_EV" "$B_EV"
	history_mentions ra "3 probes to $SRV_IP lost" || bad "ra's history does not say why: $(rx ra "$UBUS" -s "$(root_of ra)/var/run/ubus/ubus.sock" -t 2 call muros_ha history 2>/dev/null | tail -c 600)"
	wait_until 5 ra_demoted || bad "ra is not demoted: $(health_of ra)"
	# preempt is on and ra has the higher priority: only the demotion keeps it back
	sleep 8
	test_only_master rb || bad "the master moved again: '$(masters)' (ra preempted back?)"
	wait_until 5 health_is rb ok || bad "rb's upstream check: $(health_of rb)"
	note "rb health $(health_of rb | cut -c1-60)"
}
upstream_both() {
	local changes
	health_pair
	event
	lab_isp_blackhole_internet on
	changes=$(master_changes 25)
	note "internet gone for both: master sequence '$changes'"
	[ "$(wc -w <<<"$changes")" -le 2 ] || bad "more than one transition: $changes"
	local m; m=$(masters)
	case "$m" in ra|rb) ;; *) bad "no single master at the end: '$m'" ;; esac
	wait_until 5 health_is "$m" down_both || bad "$m does not report down_both: $(health_of "$m")"
	daemon_alert "$m" upstream_down || bad "$m has no upstream_down alert: [$(daemon_alerts "$m")]"
	history_mentions "$m" "upstream down on both" || bad "$m's history has no 'upstream down on both'"
	lab_isp_blackhole_internet off
	wait_until 10 health_is "$m" ok || bad "$m's upstream did not come back: $(health_of "$m")"
	wait_until 3 no_daemon_alert "$m" upstream_down || bad "$m still alerts: [$(daemon_alerts "$m")]"
	test_only_master "$m" || bad "the master moved when the internet came back: '$(masters)'"
}
# Issue 16: `preempt_delay` holds a returning master back for its time (its conntrack
# cache fills meanwhile). ra (priority 150, preempt on, preempt_delay 6) loses power
# and comes back: rb stays master for the delay, then ra takes over, flow intact.
case_15() {
	[ "$HOOK" = muros ] && [ "$CONFIGS" = render ] || { note "needs HOOK=muros CONFIGS=render"; SKIPPED=1; return; }
	# PREEMPT_DELAY is read by lib.sh (write_uci)
	PREEMPT=1 PREEMPT_DELAY=6 sub_run d preempt_delay delayed_return
}
delayed_return() {
	local t0
	begin || exit 1
	event; lab_power_cut ra
	converged rb "$WAN0"; flow_survived "$T_EV" "$B_EV"
	t0=$(now_ms)
	event; lab_power_on ra
	sleep 4
	test_only_master rb || bad "ra took the master back within 4 s of power-on, preempt_delay is 6 s ('$(masters)')"
	if wait_until 20 test_only_master ra; then
		note "ra master again $(( $(now_ms) - t0 )) ms after power-on (preempt_delay 6 s)"
	fi
	converged ra "$WAN0"; flow_survived "$T_EV" "$B_EV"
}

# Issue 16: the lease cache. The routers are paired; rb keeps ra's WAN lease from its
# heartbeats, and a power cut of ra brings rb's WAN up from it (our proto handler's
# notify_proto to netifd) before DHCP confirms. ra comes back as backup (preempt off)
# and learns rb's lease. Then the ISP's DHCP server renumbers: the takeover back to ra
# starts from the cached address, the server hands out another, ra's WAN moves to it,
# says so in its history (wan_lease_changed), and both routers cache the new lease.
case_16() {
	[ "$HOOK" = muros ] && [ "$CONFIGS" = render ] && [ "$WAN_MODE" = dhcp ] && [ "$LEASE_CACHE" = 1 ] \
		|| { note "needs HOOK=muros CONFIGS=render WAN_MODE=dhcp LEASE_CACHE=1"; SKIPPED=1; return; }
	PREEMPT=0 sub_run c lease_cache lease_cache_takeovers
}
cached_on() { cut -d' ' -f1 "$(root_of "$1")/var/run/muros-ha/wan-lease" 2>/dev/null | cut -d/ -f1; }
cache_is() { [ "$(cached_on "$1")" = "$2" ]; }
from_cache() { grep -q "notify_proto cached lease $2/" "$(root_of "$1")/var/log/netifd-wan.log"; }
wan_moved() { local a; a=$(wan_addr "$1"); [ -n "$a" ] && [ "$a" != "$2" ]; }
last_steps() {
	daemon_status "$1" | python3 -c 'import json,sys; f=json.load(sys.stdin).get("last_failover") or {}; print(json.dumps(f.get("steps")))' 2>/dev/null
}
lease_cache_takeovers() {
	local new
	begin || exit 1
	pair_daemons || { bad "pairing the daemons failed"; exit 1; }
	wait_until 10 cache_is rb "$WAN0" || { bad "rb never cached ra's lease $WAN0 (rb has '$(cached_on rb)')"; exit 1; }
	local garp; garp=$(lab_isp_garp_count "$WAN0")
	event; lab_power_cut ra
	converged rb "$WAN0"; flow_survived "$T_EV" "$B_EV"
	from_cache rb "$WAN0" || bad "rb's WAN did not come up from the cached lease"
	wait_until 3 test "$(lab_isp_garp_count "$WAN0")" -gt "${garp:-0}" || bad "no gratuitous ARP for $WAN0 reached the ISP"
	note "rb up from the cache, steps $(last_steps rb)"
	lab_power_on ra
	wait_until 20 cache_is ra "$WAN0" || bad "ra (back, BACKUP) did not cache rb's lease (ra has '$(cached_on ra)')"
	lab_isp_renumber
	event; stop_keepalived rb
	wait_until 15 test_only_master ra || bad "ra did not take over: '$(masters)'"
	from_cache ra "$WAN0" || bad "ra's takeover did not start from the cached lease"
	wait_until 20 wan_moved ra "$WAN0" || bad "ra's WAN did not move to the new range: '$(wan_addr ra)'"
	new=$(wan_addr ra)
	note "renumbered $WAN0 -> $new; ra steps $(last_steps ra)"
	wait_until 10 history_mentions ra "instead of the cached $WAN0" || bad "ra's history has no wan_lease_changed"
	wait_until 10 cache_is rb "$new" || bad "rb did not cache the new lease $new (rb has '$(cached_on rb)')"
	test_no_wan rb || bad "WAN still up on rb"
	# the old address's NAT bindings are gone with it; new flows use the new one
	flow_start after || bad "no flow after the renumbering"
	wait_until 5 flow_alive after || bad "the flow after the renumbering does not run"
	start_keepalived rb
}

# Issue 18: a WireGuard site-to-site tunnel follows the master (`list vpn 'wg0'`). Both
# routers carry the same key and listen port and the shared-MAC WAN keeps the public
# address, so the remote site (srv) sees the same endpoint and is never touched. A flow
# from the LAN client to a server on srv's tunnel address runs LAN -> master -> wg0 ->
# WAN -> srv. Every fault of the matrix that moves the master, each with its return: a
# power cut, a graceful stop, the master's LAN link down (FAULT) and its WAN parent down
# (track_interface). Each time the new master has wg0 up (netifd stand-in and device),
# the old one has none, both flows live on and srv's endpoint is still the WAN address;
# the tunnel flow's gaps are printed, never asserted.
case_17() {
	[ "$HOOK" = muros ] || { note "needs HOOK=muros (the seed hook brings no VPN up)"; SKIPPED=1; return; }
	if ! wg_tools_present; then
		# CI installs them (.ci/setup.sh): missing there is a failure, not a skip
		if [ "${CI:-}" = true ]; then bad "wireguard-go or wg is missing (apt: wireguard-go wireguard-tools)"; return; fi
		note "wireguard-go or wg is missing (apt: wireguard-go wireguard-tools)"; SKIPPED=1; return
	fi
	# shellcheck disable=SC2034 # read by lib.sh (topology, UCI, firewall, ubus)
	WG=1
	begin || return
	lab_vpn_up "$WAN0" || { bad "the tunnel to srv did not come up (no handshake with ra)"; return; }
	wait_until 5 wg_up_on ra || bad "wg0 is not up on the master ra"
	wg_dev_absent rb || bad "the backup rb has a wg0"
	flow_start vpn "$WG_SRV_ADDR" || { bad "the tunnel flow did not start"; return; }
	sleep 1
	flow_alive vpn || { bad "the tunnel flow is not running before the fault"; return; }
	local ep0; ep0=$(wg_srv_endpoint)
	[ "$ep0" = "$WAN0:$WG_PORT" ] || bad "srv's endpoint for the routers is '$ep0', not the WAN's $WAN0:$WG_PORT"
	vpn_step "power cut of ra" rb lab_power_cut ra
	if [ "$PREEMPT" = 1 ]; then
		vpn_step "ra back (preempts)" ra lab_power_on ra
	else
		lab_power_on ra; converged rb "$WAN0"
	fi
	local m; m=$(masters); m=${m:-ra}
	vpn_step "graceful stop of $m" "$(other "$m")" stop_keepalived "$m"
	if [ "$PREEMPT" = 1 ]; then vpn_step "$m back (preempts)" "$m" start_keepalived "$m"; else start_keepalived "$m"; fi
	# the matrix's other faults that move the master: its LAN link (FAULT), its WAN parent
	local dev
	for dev in lan0 wanp; do
		m=$(masters); m=${m:-ra}
		vpn_step "$dev down on $m" "$(other "$m")" ip -n "${NS[$m]}" link set "$dev" down
		if [ "$PREEMPT" = 1 ]; then
			vpn_step "$dev of $m back (preempts)" "$m" ip -n "${NS[$m]}" link set "$dev" up
		else
			ip -n "${NS[$m]}" link set "$dev" up; converged "$(other "$m")" "$WAN0"
		fi
	done
	note "srv's endpoint for the routers $ep0 throughout"
	flow_stop vpn
}
# vpn_step TITLE NEW_MASTER CMD...: run the fault CMD; the new master has wg0, the old
# one none, the LAN flow and the tunnel flow survived; note the tunnel flow's gaps.
vpn_step() {
	local title=$1 m=$2 o b; o=$(other "$2"); shift 2
	event; b=$(flow_get vpn tcp_bytes)
	"$@"
	converged "$m" "$WAN0"
	wait_until 10 wg_up_on "$m" || bad "$title: wg0 is not up on the new master $m"
	wait_until 5 wg_dev_absent "$o" || bad "$title: $o still has a wg0"
	# flow_survived notes the LAN flow's gaps
	note "[$title: LAN flow"
	flow_survived "$T_EV" "$B_EV"
	wait_until 8 flow_alive vpn || true
	[ "$(flow_get vpn tcp_reset)" = false ] || bad "$title: the tunnel's TCP flow was reset: $(flow_get vpn tcp_error)"
	[ "$(flow_get vpn tcp_bytes)" -gt "${b:-0}" ] || bad "$title: no TCP bytes through the tunnel since the fault"
	flow_alive vpn || bad "$title: the tunnel flow stalled (no reply in the last second)"
	# The shared-MAC WAN keeps the public address, and a static WAN's NAT sends the
	# tunnel's packets from the VIP (render: `udp sport <listen_port>` to the VIP, ahead
	# of fw4's masquerade): srv's peer must still point at it either way.
	local ep; ep=$(wg_srv_endpoint)
	[ "$ep" = "$WAN0:$WG_PORT" ] || bad "$title: srv's endpoint for the routers moved to '$ep' (the WAN is $WAN0)"
	note "/ tunnel flow gap tcp $(flow_gap_after vpn tcp "$T_EV") ms udp $(flow_gap_after vpn udp "$T_EV") ms]"
}

# master_changes SECONDS: the single masters seen, in order, sampling every 0.2 s
master_changes() {
	local end=$(( $(now_ms) + $1 * 1000 )) seq="" last="" m
	while [ "$(now_ms)" -lt "$end" ]; do
		m=$(masters)
		case "$m" in ra|rb) [ "$m" = "$last" ] || { seq="$seq $m"; last=$m; } ;; esac
		sleep 0.2
	done
	echo "$seq"
}
health_of() {
	daemon_status "$1" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin).get("health")))' 2>/dev/null
}
health_is() {
	daemon_status "$1" | python3 -c 'import json,sys; h=json.load(sys.stdin).get("health") or {}; sys.exit(0 if h.get("state")==sys.argv[1] else 1)' "$2" 2>/dev/null
}
ra_demoted() {
	daemon_status ra | python3 -c 'import json,sys; h=json.load(sys.stdin).get("health") or {}; sys.exit(0 if h.get("demoted") else 1)' 2>/dev/null
}

declare -A TITLE=(
	[1]="graceful keepalived stop on master"
	[2]="SIGKILL keepalived on master (respawned)"
	[3]="SIGKILL conntrackd on master, then failover"
	[4]="master power cut and return"
	[5]="master LAN link down"
	[6]="master WAN parent link down (track_interface)"
	[7]="sync link down: no role change"
	[8]="flapping: 20 failovers"
	[9]="VRRP auth mismatch"
	[10]="old master returns (preempt on, then off)"
	[11]="foreign VRRP router on the LAN: other VRID, then ours"
	[12]="IPv6: SLAAC client's default route across failovers"
	[13]="maintenance moves the master (preempt off, then on), both ways"
	[14]="upstream health: master's path blackholed, then the ISP down for both"
	[15]="preempt_delay holds the returning master back"
	[16]="lease cache: takeover from the peer's lease, then the ISP renumbers"
	[17]="WireGuard tunnel follows the master: power cut, graceful stop, LAN link, WAN parent"
)

. "$HERE/lib.sh"
[ "$(id -u)" = 0 ] || { echo "faults.sh needs root (network namespaces)"; [ "${CI:-}" = true ] && exit 1; exit 0; }
echo "== fault matrix: HOOK=$HOOK VRRPv$VRRP_VERSION advert ${ADVERT}s preempt=$PREEMPT =="
T_ALL=$(now_ms)
WORK=$(mktemp -d /tmp/muros-faults-$RUN_ID.XXXX)
for c in $CASES; do
	t=$(now_ms)
	CASE_OUT=$WORK/case$c
	(
		LAB_ID=${RUN_ID}c$c
		REASONS=() NOTES=() SKIPPED=0
		case $c in 10 | 13 | 14 | 15) ;; *) lab_init ;; esac
		"case_$c" 2>>"$CASE_OUT.err"
		[ -s "$CASE_OUT.reasons" ] && while read -r l; do REASONS+=("$l"); done <"$CASE_OUT.reasons"
		{
			for r in "${REASONS[@]}"; do echo "  - $r"; done
		} >"$CASE_OUT.why"
		echo "${NOTES[*]}" >"$CASE_OUT.notes"
		[ "$SKIPPED" = 1 ] && exit 3
		[ ${#REASONS[@]} -eq 0 ]
	) 2>>"$CASE_OUT.err"
	rc=$?
	secs=$(awk -v a="$t" -v b="$(now_ms)" 'BEGIN{printf "%.1f", (b-a)/1000}')
	notes=$(cat "$CASE_OUT.notes" 2>/dev/null)
	if [ $rc = 0 ]; then
		PASSED=$((PASSED+1)); echo "PASS $c ${TITLE[$c]} (${secs} s) ${notes:+-- $notes}"
	elif [ $rc = 3 ]; then
		echo "SKIP $c ${TITLE[$c]} -- $notes"
	else
		FAILED=$((FAILED+1)); echo "FAIL $c ${TITLE[$c]} (${secs} s) ${notes:+-- $notes}"
		if [ -s "$CASE_OUT.why" ]; then cat "$CASE_OUT.why"; else
			echo "  - the case stopped early; last messages:"; tail -n 5 "$CASE_OUT.err" 2>/dev/null | sed 's/^/    /'
		fi
	fi
done
rm -rf "$WORK"
echo "$PASSED passed, $FAILED failed ($(( ($(now_ms)-T_ALL)/1000 )) s)"
[ "$FAILED" = 0 ]
