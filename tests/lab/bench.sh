#!/usr/bin/env bash
# Benchmark: seed shell hook vs `muros-ha notify`, side by side, for each kind of
# failover. Per failover: the new master's hook duration, VRRP event (hook start on the
# new master) -> usable WAN (the netifd stand-in applied the cached lease, or udhcpc
# bound one: address, default route), and the longest TCP and UDP gap the LAN client
# saw. Prints min/median/max; it asserts nothing about timing.
#
#   sudo tests/lab/bench.sh                          # 20 of each, VRRPv2/1 s and v3/0.1 s
#   sudo FAILOVERS=5 BENCH_FAULTS="powercut handover" SETTINGS="3/0.1" tests/lab/bench.sh
#   sudo HOOKS="muros" LEASE_CACHE=0 tests/lab/bench.sh   # muros-ha without the lease cache
#
# BENCH_FAULTS (default "stop powercut handover preempt"):
#   stop      planned takeover: the master's keepalived is stopped gracefully;
#   powercut  the master loses power (and boots again before the next one);
#   handover  `ubus call muros_ha handover` on the master (muros-ha only: the shell
#             hook has none), the next one hands back;
#   preempt   preempt on: the master stops, and the figure is its return, when it
#             takes the master back from the peer.
# stop, powercut and handover run with preempt off, so every failover is one transition.
# With HOOK=muros the daemons run and are paired over the peer link, as on a router:
# that is how the backup learns the master's WAN lease.
#
# VPN (muros-ha only, when wireguard-go and wg exist; BENCH_VPN=0 leaves it out): one
# pair with a WireGuard tunnel to srv (`list vpn 'wg0'`, lib.sh WG=1), VPN_FAILOVERS
# power cuts then as many graceful stops (default 5 each), with a second flow from the
# LAN client to srv's tunnel address: its gaps beside the LAN flow's, and VRRP event ->
# wg0 up on the new master.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
FAILOVERS=${FAILOVERS:-20}
HOOKS=${HOOKS:-seed muros}
SETTINGS=${SETTINGS:-2/1 3/0.1}
BENCH_FAULTS=${BENCH_FAULTS:-stop powercut handover preempt}
BENCH_VPN=${BENCH_VPN:-1}
VPN_FAILOVERS=${VPN_FAILOVERS:-5}
# shellcheck disable=SC1091 # the lab library, beside this file
. "$HERE/lib.sh"
[ "$(id -u)" = 0 ] || { echo "bench.sh needs root"; [ "${CI:-}" = true ] && exit 1; exit 0; }
WORK=$(mktemp -d /tmp/muros-bench-$$.XXXX)
[ "${BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT

test_one_master() { [ "$(master_count)" = 1 ]; }
test_one_master_is() { [ "$(masters)" = "$1" ]; }
backup_hook_done() { [ -n "$(hook_line_after "$1" BACKUP "$2")" ]; }

master_hook_done() { [ -n "$(hook_line_after "$1" MASTER "$2")" ]; }
# The UDP stream answers again (the TCP flow may be gone for good: the seed hook loses
# it with fw4's masquerade, pitfall 1; waiting for it would only stretch the run).
udp_alive() {  # udp_alive [FLOW]: FLOW (default main) answered within 0.5 s
	python3 -c 'import json,sys,time; d=json.load(open(sys.argv[1])); sys.exit(0 if d.get("udp_last") and time.time()-d["udp_last"] < 0.5 else 1)' "$LAB_DIR/flow-${1:-main}.json" 2>/dev/null
}
# tcp_kept: one line per failover, 1 when the TCP flow answers within 2 s after it
tcp_kept() { if wait_until 2 flow_alive main; then echo 1; else echo 0; fi >>"$out/tcp_kept"; }
handover_on() {
	rx "$1" "$UBUS" -s "$(root_of "$1")/var/run/ubus/ubus.sock" -t 10 call muros_ha handover >/dev/null 2>&1
}

# one_failover FAULT M: make the other router master; echo it. Returns 1 on failure
# (the reason in $out/error).
one_failover() {
	local fault=$1 m=$2 o t; o=$(other "$m")
	case $fault in
	stop) stop_keepalived "$m" ;;
	powercut) lab_power_cut "$m" ;;
	handover) handover_on "$m" || { echo "handover on $m refused" >>"$out/error"; return 1; } ;;
	esac
	lab_wait_master "$o" 15 || { echo "$fault: $o never master" >>"$out/error"; return 1; }
	lab_wait_wan "$o" 10 || { echo "$fault: no WAN on $o" >>"$out/error"; return 1; }
	wait_until 10 udp_alive
	# the tunnel (bench_vpn) is back too before the old master returns
	if [ "$WG" = 1 ]; then
		wait_until 10 wg_up_on "$o" || echo "$fault: wg0 not up on $o" >>"$out/error"
		wait_until 10 udp_alive vpn
	fi
	tcp_kept
	# the old master comes back and settles as BACKUP before the next one
	t=$(now_ms)
	case $fault in
	stop) start_keepalived "$m" ;;
	powercut) lab_power_on "$m" ;;
	esac
	[ "$fault" = handover ] || wait_until 10 backup_hook_done "$m" "$t"
	sleep 0.5
}

bench_one() {  # bench_one HOOK VERSION ADVERT FAULT OUTDIR
	local hook=$1 ver=$2 adv=$3 fault=$4 out=$5 preempt=0
	[ "$fault" = preempt ] && preempt=1
	mkdir -p "$out"
	(
		# shellcheck disable=SC2034 # read by lib.sh
		HOOK=$hook VRRP_VERSION=$ver ADVERT=$adv PREEMPT=$preempt LAB_ID=$$b${hook:0:1}$ver${fault:0:2}
		lab_init
		lab_up
		# with nopreempt whichever router's timer ran out first is master: find it
		wait_until 15 test_one_master || { echo "pair did not elect a master" >"$out/error"; exit 1; }
		m=$(masters)
		lab_wait_wan "$m" 10 || { echo "pair did not come up" >"$out/error"; exit 1; }
		if [ "$hook" = muros ] && [ "$CONFIGS" = render ]; then
			{ start_daemons && pair_daemons; } || { echo "the daemons did not pair" >"$out/error"; exit 1; }
		fi
		sleep 1
		flow_start main || { echo "flow did not start" >"$out/error"; exit 1; }
		sleep 1
		local i o t events=()
		T_BENCH=$(now_ms)
		for i in $(seq 1 "$FAILOVERS"); do
			o=$(other "$m")
			if [ "$fault" = preempt ]; then
				# ra (priority 150) stops, rb takes over, ra returns and preempts: the
				# measured failover is the return
				m=ra o=rb
				test_one_master_is ra || { echo "preempt $i: ra is not master" >>"$out/error"; break; }
				stop_keepalived ra
				lab_wait_master rb 15 || { echo "preempt $i: rb never master" >>"$out/error"; break; }
				lab_wait_wan rb 10
				wait_until 10 udp_alive
				sleep 0.5
				t=$(now_ms)
				events+=("$t ra")
				start_keepalived ra
				wait_until 15 master_hook_done ra "$t" || { echo "preempt $i: ra did not take the master back" >>"$out/error"; break; }
				lab_wait_wan ra 10
				wait_until 10 backup_hook_done rb "$t"
				wait_until 10 udp_alive
				tcp_kept
				# the window of this return ends here: the next stop is not part of it
				events+=("$(now_ms) -")
				continue
			fi
			events+=("$(now_ms) $o")
			one_failover "$fault" "$m" || break
			m=$o
		done
		events+=("$(now_ms) end")
		flow_stop main
		cp "$LAB_DIR/flow-main.json" "$out/flow.json"
		printf '%s\n' "${events[@]}" >"$out/events"
		for r in ra rb; do
			awk -v t="$T_BENCH" -v r="$r" '$1>=t {print r, $0}' "$(root_of "$r")/var/log/hooks.log"
		done >"$out/hooks"
		# the WAN usable: the cached lease applied, or a DHCP lease bound
		for r in ra rb; do
			awk -v r="$r" '($2=="udhcpc" && ($3=="bound"||$3=="renew")) || ($2=="notify_proto" && $3=="applied") {printf "%s %.0f\n", r, $1*1000}' \
				"$(root_of "$r")/var/log/netifd-wan.log"
		done >"$out/bound"
	) >"$out/log" 2>&1
}

# bench_vpn VERSION ADVERT OUTDIR: one muros-ha pair with the WireGuard tunnel,
# VPN_FAILOVERS power cuts, then as many graceful stops (preempt off: one transition each)
# (`out` is one_failover's too; shellcheck takes it for lib.sh's array of that name)
# shellcheck disable=SC2128,SC2178
bench_vpn() {
	local ver=$1 adv=$2 out=$3
	mkdir -p "$out"
	(
		# shellcheck disable=SC2034 # read by lib.sh
		HOOK=muros VRRP_VERSION=$ver ADVERT=$adv PREEMPT=0 WG=1 LAB_ID=$$bv$ver
		lab_init
		lab_up
		wait_until 15 test_one_master || { echo "pair did not elect a master" >"$out/error"; exit 1; }
		m=$(masters)
		lab_wait_wan "$m" 10 || { echo "pair did not come up" >"$out/error"; exit 1; }
		if [ "$CONFIGS" = render ]; then
			{ start_daemons && pair_daemons; } || { echo "the daemons did not pair" >"$out/error"; exit 1; }
		fi
		lab_vpn_up "$(wan_addr "$m")" || { echo "the tunnel to srv did not come up" >"$out/error"; exit 1; }
		{ flow_start main && flow_start vpn "$WG_SRV_ADDR"; } || { echo "flows did not start" >"$out/error"; exit 1; }
		sleep 1
		local f i o events=()
		T_BENCH=$(now_ms)
		for f in powercut stop; do
			for i in $(seq 1 "$VPN_FAILOVERS"); do
				o=$(other "$m")
				events+=("$(now_ms) $f $o")
				one_failover "$f" "$m" || break 2
				m=$o
			done
		done
		events+=("$(now_ms) end -")
		flow_stop main; flow_stop vpn
		cp "$LAB_DIR/flow-main.json" "$out/flow.json"
		cp "$LAB_DIR/flow-vpn.json" "$out/flow-vpn.json"
		printf '%s\n' "${events[@]}" >"$out/events"
		# the new master's MASTER hook start (the VRRP event) and netifd-wg's "up"
		for r in ra rb; do
			awk -v t="$T_BENCH" -v r="$r" '$1>=t && $6=="MASTER" {print r, $1}' "$(root_of "$r")/var/log/hooks.log"
		done >"$out/hooks"
		for r in ra rb; do
			awk -v r="$r" '$2=="up" && NF==2 {printf "%s %.0f\n", r, $1*1000}' "$(root_of "$r")/var/log/netifd-$WG_IFACE.log"
		done >"$out/wgup"
	) >"$out/log" 2>&1
}

T_ALL=$(now_ms)
for s in $SETTINGS; do
	ver=${s%/*} adv=${s#*/}
	for f in $BENCH_FAULTS; do
		for h in $HOOKS; do
			d="$WORK/$h-$ver-$f"
			[ "$f" = handover ] && [ "$h" != muros ] && continue
			if [ "$h" = muros ] && [ ! -x "$MUROS_HA" ]; then
				mkdir -p "$d"; echo "muros-ha binary not found at $MUROS_HA" >"$d/error"; continue
			fi
			t=$(now_ms)
			echo "running: HOOK=$h VRRPv$ver advert ${adv}s, $FAILOVERS x $f" >&2
			bench_one "$h" "$ver" "$adv" "$f" "$d"
			echo "  took $(( ($(now_ms) - t) / 1000 )) s" >&2
		done
	done
done
VPN_WHY=""
if [ "$BENCH_VPN" != 1 ]; then VPN_WHY="BENCH_VPN=$BENCH_VPN"
elif [[ " $HOOKS " != *" muros "* ]]; then VPN_WHY="needs muros in HOOKS (the seed hook brings no VPN up)"
elif [ ! -x "$MUROS_HA" ]; then VPN_WHY="muros-ha binary not found at $MUROS_HA"
elif ! wg_tools_present; then VPN_WHY="wireguard-go or wg is missing (apt: wireguard-go wireguard-tools)"
fi
if [ -z "$VPN_WHY" ]; then
	for s in $SETTINGS; do
		ver=${s%/*} adv=${s#*/}
		t=$(now_ms)
		echo "running: HOOK=muros VRRPv$ver advert ${adv}s, WireGuard tunnel, $VPN_FAILOVERS x powercut + $VPN_FAILOVERS x stop" >&2
		bench_vpn "$ver" "$adv" "$WORK/vpn-$ver"
		echo "  took $(( ($(now_ms) - t) / 1000 )) s" >&2
	done
fi
echo "bench total: $(( ($(now_ms) - T_ALL) / 1000 )) s" >&2

python3 - "$WORK" "$SETTINGS" "$HOOKS" "$BENCH_FAULTS" <<'PY'
import json, os, statistics, sys
work, settings, hooks, faults = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split()

def load(d):
    if not os.path.exists(os.path.join(d, "events")):
        err = open(os.path.join(d, "error")).read().strip() if os.path.exists(os.path.join(d, "error")) else "no data"
        return None, err
    ev = [l.split() for l in open(os.path.join(d, "events")) if l.strip()]
    ev = [(int(t), r) for t, r in ev]
    hooks = [l.split() for l in open(os.path.join(d, "hooks")) if l.strip()]
    bound = [l.split() for l in open(os.path.join(d, "bound")) if l.strip()]
    flow = json.load(open(os.path.join(d, "flow.json")))
    m = {"hook MASTER ms": [], "VRRP->WAN usable ms": [], "TCP gap ms": [], "UDP gap ms": []}
    for i in range(len(ev) - 1):
        t0, r = ev[i]; t1 = ev[i + 1][0]
        if r == "-":
            continue
        hs = [h for h in hooks if h[0] == r and h[6] == "MASTER" and t0 <= int(h[1]) < t1]
        if hs:
            start = min(int(h[1]) for h in hs)
            m["hook MASTER ms"].append(int(hs[0][2]) - int(hs[0][1]))
            bs = [int(b[1]) for b in bound if b[0] == r and start <= int(b[1]) < t1]
            if bs:
                m["VRRP->WAN usable ms"].append(min(bs) - start)
        for proto, key in (("tcp", "TCP gap ms"), ("udp", "UDP gap ms")):
            g = [x["ms"] for x in flow["gaps"] if x["proto"] == proto and t0 / 1000 - 0.05 <= x["start"] < t1 / 1000]
            m[key].append(max(g) if g else 0.0)
    m["TCP resets"] = 1 if flow["tcp_reset"] else 0
    kept = [l.strip() for l in open(os.path.join(d, "tcp_kept"))] if os.path.exists(os.path.join(d, "tcp_kept")) else []
    m["TCP flow alive after"] = "%d of %d" % (kept.count("1"), len(kept))
    m["failovers"] = len([e for e in ev[:-1] if e[1] != "-"])
    err = open(os.path.join(d, "error")).read().strip() if os.path.exists(os.path.join(d, "error")) else ""
    return m, err

def fmt(v):
    if isinstance(v, (int, str)):
        return str(v)
    if not v:
        return "-"
    return "%.0f / %.0f / %.0f" % (min(v), statistics.median(v), max(v))

rows = ["failovers", "hook MASTER ms", "VRRP->WAN usable ms", "TCP gap ms", "UDP gap ms", "TCP resets", "TCP flow alive after"]
names = {"stop": "graceful stop", "powercut": "power cut", "handover": "planned handover (ubus handover)",
         "preempt": "preempt back (the old master returns)"}
print()
print("muros-ha lab benchmark; figures are min / median / max over the failovers;")
print("a gap of 0 means no gap above 50 ms (5 send intervals)")
for s in settings:
    ver, adv = s.split("/")
    for f in faults:
        cols = [h for h in hooks if not (f == "handover" and h != "muros")]
        if not cols:
            continue
        print()
        print("VRRPv%s, advert %s s: %s" % (ver, adv, names.get(f, f)))
        data = {h: load(os.path.join(work, "%s-%s-%s" % (h, ver, f))) for h in cols}
        print("  %-22s" % "" + "".join("%-26s" % ("HOOK=" + h) for h in cols))
        for row in rows:
            cells = []
            for h in cols:
                m, err = data[h]
                cells.append("n/a" if m is None else fmt(m[row]))
            print("  %-22s" % row + "".join("%-26s" % c for c in cells))
        for h in cols:
            m, err = data[h]
            if err:
                print("  note (%s): %s" % (h, err.replace("\n", "; ")))
PY

# The VPN section: the tunnel flow's gaps beside the LAN flow's, per fault.
python3 - "$WORK" "$SETTINGS" "$VPN_WHY" <<'PY'
import json, os, statistics, sys
work, settings, why = sys.argv[1], sys.argv[2].split(), sys.argv[3]
print()
print("VPN: WireGuard tunnel LAN client -> master -> wg0 -> WAN -> srv (muros-ha, list vpn 'wg0',")
print("persistent_keepalive 25 both sides); min / median / max over the failovers")
if why:
    print("  not run: " + why)
    sys.exit(0)

def fmt(v):
    return "-" if not v else "%.0f / %.0f / %.0f" % (min(v), statistics.median(v), max(v))

for s in settings:
    ver, adv = s.split("/")
    d = os.path.join(work, "vpn-" + ver)
    err = open(os.path.join(d, "error")).read().strip() if os.path.exists(os.path.join(d, "error")) else ""
    print()
    print("VRRPv%s, advert %s s:" % (ver, adv))
    if not os.path.exists(os.path.join(d, "events")):
        print("  n/a: " + (err or "no data").replace("\n", "; "))
        continue
    ev = [l.split() for l in open(os.path.join(d, "events")) if l.strip()]
    ev = [(int(t), f, r) for t, f, r in ev]
    flow = json.load(open(os.path.join(d, "flow.json")))
    vpn = json.load(open(os.path.join(d, "flow-vpn.json")))
    hooks = [(l.split()[0], int(l.split()[1])) for l in open(os.path.join(d, "hooks")) if l.strip()]
    wgup = [(l.split()[0], int(l.split()[1])) for l in open(os.path.join(d, "wgup")) if l.strip()]
    rows = {}
    for i in range(len(ev) - 1):
        t0, f, r = ev[i]; t1 = ev[i + 1][0]
        m = rows.setdefault(f, {"failovers": 0, "tunnel TCP gap ms": [], "tunnel UDP gap ms": [],
                                "LAN UDP gap ms": [], "VRRP->wg0 up ms": []})
        m["failovers"] += 1
        for fl, proto, key in ((vpn, "tcp", "tunnel TCP gap ms"), (vpn, "udp", "tunnel UDP gap ms"), (flow, "udp", "LAN UDP gap ms")):
            g = [x["ms"] for x in fl["gaps"] if x["proto"] == proto and t0 / 1000 - 0.05 <= x["start"] < t1 / 1000]
            m[key].append(max(g) if g else 0.0)
        # VRRP event = the new master's first MASTER hook start; wg0 up = netifd-wg's "up"
        hs = [t for h, t in hooks if h == r and t0 <= t < t1]
        if hs:
            ups = [t for h, t in wgup if h == r and min(hs) <= t < t1]
            if ups:
                m["VRRP->wg0 up ms"].append(min(ups) - min(hs))
    order = ["powercut", "stop"]
    names = {"powercut": "power cut", "stop": "graceful stop"}
    print("  %-22s" % "" + "".join("%-26s" % names[f] for f in order if f in rows))
    for key in ("failovers", "tunnel TCP gap ms", "tunnel UDP gap ms", "LAN UDP gap ms", "VRRP->wg0 up ms"):
        cells = []
        for f in order:
            if f in rows:
                v = rows[f][key]
                cells.append(str(v) if isinstance(v, int) else fmt(v))
        print("  %-22s" % key + "".join("%-26s" % c for c in cells))
    reset = vpn.get("tcp_reset")
    print("  %-22s%s" % ("tunnel TCP resets", 1 if reset else 0))
    if err:
        print("  note: " + err.replace("\n", "; "))
PY
