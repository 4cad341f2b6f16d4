#!/usr/bin/env bash
# muros-ha demo: two routers in network namespaces, a long TCP flow and a UDP stream
# from a LAN client to an "internet" server, then the master loses power.
#
#   sudo ./demo.sh                      # seed-style shell hook (default)
#   sudo HOOK=muros ./demo.sh           # muros-ha notify (needs target/debug/muros-ha)
#   sudo VRRP_VERSION=3 ADVERT=0.1 ./demo.sh
#
# Prints a timeline: VRRP transition, WAN address on the new master, bytes before and
# after, the flow's longest gap; then the old master comes back. Everything is torn
# down at exit, also on failure.
set -u
. "$(dirname "$0")/tests/lab/lib.sh"

lab_init
T_START=$(now_ms)
rel() { awk -v a="$1" -v b="$T0" 'BEGIN{printf "%+8.3f s", (a-b)/1000}'; }
say() { printf '  %s  %s\n' "$(rel "$(now_ms)")" "$*"; }
sayat() { local t=$1; shift; printf '  %s  %s\n' "$(rel "$t")" "$*"; }

echo "== muros-ha lab demo: HOOK=$HOOK, VRRPv$VRRP_VERSION advert ${ADVERT}s, preempt=$PREEMPT =="
T0=$T_START
lab_up
if [ "$HOOK" = muros ] && [ "$CONFIGS" = render ]; then
	# the muros-ha daemon on both routers, as procd runs it (restarted at power-on)
	LAB_DAEMONS=1
	start_daemon ra
	start_daemon rb
fi
lab_wait_master ra 15 || lab_die "ra never became master"
lab_wait_wan ra 10 || lab_die "ra never got a WAN lease"
WAN_BEFORE=$(wan_addr ra)
say "pair up: ra MASTER (VIP $LAN_VIP), WAN $WAN_BEFORE; rb BACKUP; services on ra: $(services_on ra)"
CLIENT_IP=$(client_addr)
say "client took by DHCP from $(client_server)'s dnsmasq: $CLIENT_IP, gateway $(client_gateway), DNS $(client_dns) (lease $LAN_LEASETIME)"

flow_start main || lab_die "flow did not start"
say "client $CLIENT_IP -> server $SRV_IP: TCP flow + UDP stream, one message per 10 ms"
sleep 2
BYTES_BEFORE=$(flow_get main tcp_bytes)

T0=$(now_ms)
lab_power_cut ra
echo
say "POWER CUT on ra (master): every process killed, every link down"
say "TCP bytes echoed so far: $BYTES_BEFORE"

lab_wait_master rb 15 || lab_die "rb never took over"
T_VIP=$(now_ms)
lab_wait_wan rb 10 || lab_die "rb never got the WAN lease"
WAN_AFTER=$(wan_addr rb)
sleep 0.5
line=$(hook_line_after rb MASTER "$T0")
if [ -n "$line" ]; then
	read -r hs he hrc _ _ _ _ <<<"$line"
	sayat "$hs" "rb keepalived -> MASTER; notify hook started"
	sayat "$he" "rb notify hook done in $((he-hs)) ms (exit $hrc)"
fi
sayat "$T_VIP" "rb holds the VIP $LAN_VIP"
TB=$(wan_bound_after rb "$T0")
[ -n "$TB" ] && sayat "$TB" "rb WAN lease bound: $WAN_AFTER ($( [ "$WAN_AFTER" = "$WAN_BEFORE" ] && echo 'same address as before' || echo "CHANGED from $WAN_BEFORE"))"
sayat "$(now_ms)" "services on rb: $(services_on rb)"

sleep 2
BYTES_AFTER=$(flow_get main tcp_bytes)
RESET=$(flow_get main tcp_reset)
TGAP=$(flow_gap_after main tcp "$T0")
UGAP=$(flow_gap_after main udp "$T0")
say "TCP bytes now: $BYTES_AFTER (+$((BYTES_AFTER-BYTES_BEFORE)) since the cut), reset: $RESET"
say "longest gap since the cut: TCP ${TGAP} ms, UDP ${UGAP} ms"
LEASE_WHY=$(client_kept_lease)
if [ -z "$LEASE_WHY" ]; then
	say "client kept its DHCP lease: bound once, not renewed; gateway $(client_gateway) and DNS $(client_dns) (answering, now on rb)"
else
	say "client DHCP: $LEASE_WHY"
fi

echo
T0=$(now_ms)
lab_power_on ra
say "ra powered on (boots as BACKUP, preempts: priority 150 > 100)"
if [ "$PREEMPT" = 1 ]; then
	lab_wait_master ra 20 && sayat "$(now_ms)" "ra holds the VIP again" || say "ra did not take the VIP back"
	wait_until 10 sh -c "[ \"\$(wan_addr rb)\" = '' ]" 2>/dev/null
	lab_wait_wan ra 10 && sayat "$(now_ms)" "ra WAN lease: $(wan_addr ra)"
	wait_until 10 test "$(master_count)" = 1
	sleep 1.5
fi
say "masters: $(masters); rb WAN: '$(wan_addr rb)'; services ra: [$(services_on ra)] rb: [$(services_on rb)]"
TGAP2=$(flow_gap_after main tcp "$T0")
flow_stop main
BYTES_END=$(flow_get main tcp_bytes)
RESET=$(flow_get main tcp_reset)
say "TCP flow after the return: reset: $RESET, longest gap ${TGAP2} ms, total bytes $BYTES_END"

if [ "${LAB_DAEMONS:-0}" = 1 ]; then
	for r in ra rb; do
		say "$r daemon: $(rx "$r" "$UBUS" -s "$(root_of "$r")/var/run/ubus/ubus.sock" -t 2 call muros_ha status 2>/dev/null \
			| python3 -c 'import json,sys; s=json.load(sys.stdin); print("state %s, alerts [%s], last transition: %s" % (s.get("state"), " ".join(a["kind"] for a in s.get("alerts", [])), (s.get("last_transition") or {}).get("reason")))' 2>/dev/null)"
	done
fi

echo
ok=1
[ "$RESET" = false ] || ok=0
[ "$WAN_AFTER" = "$WAN_BEFORE" ] || ok=0
[ "$BYTES_AFTER" -gt "$BYTES_BEFORE" ] || ok=0
[ "$(master_count)" = 1 ] || ok=0
LEASE_WHY=$(client_kept_lease)
[ -z "$LEASE_WHY" ] || { ok=0; say "client DHCP: $LEASE_WHY"; }
echo "== result: $([ $ok = 1 ] && echo 'flow survived both transitions, same WAN address, one master, client kept its DHCP lease' || echo 'FAILED: see above') ($(( ($(now_ms)-T_START)/1000 )) s) =="
[ $ok = 1 ]
