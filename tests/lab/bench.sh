#!/usr/bin/env bash
# Benchmark: seed shell hook vs `muros-ha notify`, side by side, for VRRPv2/1 s and
# VRRPv3/0.1 s. For every failover: hook duration per transition, time from the VRRP
# transition (hook start on the new master) to a usable WAN (DHCP lease bound,
# SNAT + default route installed), and the longest TCP and UDP gap the client saw.
# Prints min/median/max; it asserts nothing about timing.
#
#   sudo tests/lab/bench.sh                    # 10 failovers per column
#   sudo FAILOVERS=20 BENCH_FAULT=powercut tests/lab/bench.sh
#   sudo HOOKS="seed" SETTINGS="3/0.1" tests/lab/bench.sh
#
# BENCH_FAULT=stop (default): planned takeover, the master's keepalived is stopped
# gracefully. BENCH_FAULT=powercut: the master loses power and boots again.
# PREEMPT is 0 in the bench so that every failover is one transition, not two.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
FAILOVERS=${FAILOVERS:-10}
HOOKS=${HOOKS:-seed muros}
SETTINGS=${SETTINGS:-2/1 3/0.1}
BENCH_FAULT=${BENCH_FAULT:-stop}
. "$HERE/lib.sh"
[ "$(id -u)" = 0 ] || { echo "bench.sh needs root"; [ "${CI:-}" = true ] && exit 1; exit 0; }
WORK=$(mktemp -d /tmp/muros-bench-$$.XXXX)
[ "${BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT

test_one_master() { [ "$(master_count)" = 1 ]; }
backup_hook_done() { [ -n "$(hook_line_after "$1" BACKUP "$2")" ]; }

bench_one() {  # bench_one HOOK VERSION ADVERT OUTDIR
	local hook=$1 ver=$2 adv=$3 out=$4
	mkdir -p "$out"
	(
		HOOK=$hook VRRP_VERSION=$ver ADVERT=$adv PREEMPT=0 LAB_ID=$$b${hook}${ver}
		lab_init
		lab_up
		# with nopreempt whichever router's timer ran out first is master: find it
		wait_until 15 test_one_master || { echo "pair did not elect a master" >"$out/error"; exit 1; }
		m=$(masters)
		lab_wait_wan "$m" 10 || { echo "pair did not come up" >"$out/error"; exit 1; }
		sleep 1
		flow_start main || { echo "flow did not start" >"$out/error"; exit 1; }
		sleep 1
		local i o events=()
		T_BENCH=$(now_ms)
		for i in $(seq 1 "$FAILOVERS"); do
			o=$(other "$m")
			events+=("$(now_ms) $o")
			if [ "$BENCH_FAULT" = powercut ]; then lab_power_cut "$m"; else stop_keepalived "$m"; fi
			lab_wait_master "$o" 15 || { echo "failover $i: $o never master" >>"$out/error"; break; }
			lab_wait_wan "$o" 10 || { echo "failover $i: no WAN on $o" >>"$out/error"; break; }
			wait_until 10 flow_alive main
			sleep 0.5
			if [ "$BENCH_FAULT" = powercut ]; then lab_power_on "$m"; else start_keepalived "$m"; fi
			# the returning router must settle as BACKUP before the next failover
			t=$(now_ms)
			wait_until 10 backup_hook_done "$m" "$t"
			sleep 1
			m=$o
		done
		events+=("$(now_ms) end")
		flow_stop main
		cp "$LAB_DIR/flow-main.json" "$out/flow.json"
		printf '%s\n' "${events[@]}" >"$out/events"
		for r in ra rb; do
			awk -v t="$T_BENCH" -v r="$r" '$1>=t {print r, $0}' "$(root_of "$r")/var/log/hooks.log"
		done >"$out/hooks"
		for r in ra rb; do
			awk -v r="$r" '$2=="udhcpc" && ($3=="bound"||$3=="renew") {printf "%s %.0f\n", r, $1*1000}' \
				"$(root_of "$r")/var/log/netifd-wan.log"
		done >"$out/bound"
	) >"$out/log" 2>&1
}

for s in $SETTINGS; do
	ver=${s%/*} adv=${s#*/}
	for h in $HOOKS; do
		d="$WORK/$h-$ver"
		if [ "$h" = muros ] && [ ! -x "$MUROS_HA" ]; then
			mkdir -p "$d"; echo "muros-ha binary not found at $MUROS_HA" >"$d/error"; continue
		fi
		echo "running: HOOK=$h VRRPv$ver advert ${adv}s, $FAILOVERS failovers ($BENCH_FAULT)" >&2
		bench_one "$h" "$ver" "$adv" "$d"
	done
done

python3 - "$WORK" "$SETTINGS" "$HOOKS" "$BENCH_FAULT" <<'PY'
import json, os, statistics, sys
work, settings, hooks, fault = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4]

def load(d):
    if not os.path.exists(os.path.join(d, "events")):
        err = open(os.path.join(d, "error")).read().strip() if os.path.exists(os.path.join(d, "error")) else "no data"
        return None, err
    ev = [l.split() for l in open(os.path.join(d, "events")) if l.strip()]
    ev = [(int(t), r) for t, r in ev]
    hooks = [l.split() for l in open(os.path.join(d, "hooks")) if l.strip()]
    bound = [l.split() for l in open(os.path.join(d, "bound")) if l.strip()]
    flow = json.load(open(os.path.join(d, "flow.json")))
    m = {"hook MASTER ms": [], "hook BACKUP/STOP ms": [], "VRRP->WAN usable ms": [],
         "TCP gap ms": [], "UDP gap ms": []}
    for h in hooks:
        r, s, e, rc, typ, name, state = h[:7]
        key = "hook MASTER ms" if state == "MASTER" else "hook BACKUP/STOP ms"
        m[key].append(int(e) - int(s))
    for i in range(len(ev) - 1):
        t0, r = ev[i]; t1 = ev[i + 1][0]
        ms = [int(h[1]) for h in hooks if h[0] == r and h[6] == "MASTER" and t0 <= int(h[1]) < t1]
        bs = [int(b[1]) for b in bound if b[0] == r and t0 <= int(b[1]) < t1]
        if ms and bs:
            m["VRRP->WAN usable ms"].append(min(bs) - min(ms))
        for proto, key in (("tcp", "TCP gap ms"), ("udp", "UDP gap ms")):
            g = [x["ms"] for x in flow["gaps"] if x["proto"] == proto and t0 / 1000 - 0.05 <= x["start"] < t1 / 1000]
            m[key].append(max(g) if g else 0.0)
    m["TCP resets"] = 1 if flow["tcp_reset"] else 0
    m["failovers"] = len(ev) - 1
    err = open(os.path.join(d, "error")).read().strip() if os.path.exists(os.path.join(d, "error")) else ""
    return m, err

def fmt(v):
    if isinstance(v, int):
        return str(v)
    if not v:
        return "-"
    return "%.0f / %.0f / %.0f" % (min(v), statistics.median(v), max(v))

rows = ["failovers", "hook MASTER ms", "hook BACKUP/STOP ms", "VRRP->WAN usable ms", "TCP gap ms", "UDP gap ms", "TCP resets"]
print()
print("muros-ha lab benchmark (%s); figures are min / median / max over the failovers;" % fault)
print("a gap of 0 means no gap above 50 ms (5 send intervals)")
for s in settings:
    ver, adv = s.split("/")
    print()
    print("VRRPv%s, advert %s s" % (ver, adv))
    data = {h: load(os.path.join(work, "%s-%s" % (h, ver))) for h in hooks}
    print("  %-22s" % "" + "".join("%-26s" % ("HOOK=" + h) for h in hooks))
    for row in rows:
        cells = []
        for h in hooks:
            m, err = data[h]
            cells.append("n/a" if m is None else fmt(m[row]))
        print("  %-22s" % row + "".join("%-26s" % c for c in cells))
    for h in hooks:
        m, err = data[h]
        if err:
            print("  note (%s): %s" % (h, err.replace("\n", "; ")))
PY
