#!/usr/bin/env bash
# Benchmark: how a failover's cost grows with the number of tracked connections. For
# each count N (FLOW_COUNTS) a fresh pair is built, N one-packet UDP flows are sent
# from the LAN through the master's NAT (each its own 5-tuple, from 4 client addresses
# and many source ports, so N conntrack entries), the backup's conntrackd external cache is watched until it holds
# them, and the master fails FAILOVERS times while a probe flow (flowtool.py) runs.
# Per failover: the probe's longest UDP gap, the new master's hook time, the
# `conntrackd -c` step inside it (from the muros-ha history), VRRP -> usable WAN, and
# how many entries the commit put into the new master's kernel table.
# Prints figures and the duration of every phase; asserts nothing about timing.
#
#   sudo HOOK=muros CONFIGS=render NAT=masquerade VRRP_VERSION=3 ADVERT=0.1 tests/lab/flows.sh
#   sudo ... FLOW_COUNTS=1000 FAILOVERS=1 tests/lab/flows.sh      # a quick look
#   sudo ... BENCH_FAULT=stop tests/lab/flows.sh                  # planned takeover
#
# Knobs: FLOW_COUNTS ("1000 10000 50000"), FAILOVERS (3), BENCH_FAULT (powercut|stop),
# FLOW_RATE (packets/s of the generator, 20000), FLOW_SOURCES (LAN source addresses,
# 1-8, default 4), SYNC_TIMEOUT (s to wait for the backup's cache, 60), BENCH_KEEP=1
# (keep the work directory with every lab's log).
#
# A setup that does not work (no master, the flows not in the master's table, the
# backup's cache never reaching half of them, no takeover) is reported; with CI=true
# the script then exits 1.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
FLOW_COUNTS=${FLOW_COUNTS:-1000 10000 50000}
FAILOVERS=${FAILOVERS:-3}
BENCH_FAULT=${BENCH_FAULT:-powercut}
FLOW_RATE=${FLOW_RATE:-20000}
FLOW_SOURCES=${FLOW_SOURCES:-4}
SYNC_TIMEOUT=${SYNC_TIMEOUT:-60}
# Unreplied UDP entries live nf_conntrack_udp_timeout (30 s by default) in the
# routers' namespaces; a count's run is longer than that.
FLOW_UDP_TIMEOUT=600
# Where the flows go: the internet server drops these ports silently (no ICMP back).
FLOW_SPORT0=20000 FLOW_NSPORT=40000 FLOW_DPORT0=20000 FLOW_DPORTS=4
# Extra LAN client addresses: outside the routers' DHCP pool (.100-.249) and the
# addresses the lab uses (.1-.3, .9).
FLOW_SRC_NET=192.0.2 FLOW_SRC_FIRST=20
# shellcheck disable=SC1091 # the lab library, beside this file
. "$HERE/lib.sh"
[ "$(id -u)" = 0 ] || { echo "flows.sh needs root"; [ "${CI:-}" = true ] && exit 1; exit 0; }

knob_ok() {
	if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
		echo "flows.sh: $1=$2 is not a number in $3..$4" >&2
		exit 2
	fi
}
for n in $FLOW_COUNTS; do knob_ok FLOW_COUNTS "$n" 1 150000; done
knob_ok FAILOVERS "$FAILOVERS" 1 20
knob_ok FLOW_RATE "$FLOW_RATE" 100 200000
knob_ok FLOW_SOURCES "$FLOW_SOURCES" 1 8
knob_ok SYNC_TIMEOUT "$SYNC_TIMEOUT" 1 600
case $BENCH_FAULT in powercut | stop) ;; *) echo "flows.sh: BENCH_FAULT is powercut or stop" >&2; exit 2 ;; esac

WORK=$(mktemp -d /tmp/muros-flows-$$.XXXX)
[ "${BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
RUN_ID=${LAB_ID:-$$}
T_RUN=$(now_ms)
# the terminal, for phase lines written from inside a lab's subshell
exec 3>&2

# ---------------------------------------------------------------- probes
# (the first three are called through wait_until)
# shellcheck disable=SC2317
test_one_master() { [ "$(master_count)" = 1 ]; }
# shellcheck disable=SC2317
backup_hook_done() { [ -n "$(hook_line_after "$1" BACKUP "$2")" ]; }
# shellcheck disable=SC2317
master_hook_done() { [ -n "$(hook_line_after "$1" MASTER "$2")" ]; }
kernel_entries() { rx "$1" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo 0; }
# entries in router R's conntrackd external cache (what a commit would install)
external_entries() {
	rx "$1" conntrackd -C "$(root_of "$1")/etc/conntrackd/conntrackd.conf" -s 2>/dev/null \
		| awk '/^cache external/ {e = 1} e && /current active connections/ {print $NF; f = 1; exit} END {if (!f) print 0}'
}

# ---------------------------------------------------------------- phases
# phase NAME T0: "NAME: X ms" since T0, on the terminal and in the lab's log
phase() {
	local ms=$(($(now_ms) - $2))
	printf '  [N=%s] %s: %s ms\n' "$FLOW_N" "$1" "$ms" >&3
	lab_log "phase $1: $ms ms"
}
broken() { echo "$*" >>"$OUT/error"; lab_log "BROKEN: $*"; printf '  [N=%s] BROKEN: %s\n' "$FLOW_N" "$*" >&3; exit 1; }

# flow_sources: the client's own (DHCP) address and FLOW_SOURCES-1 more, added as /32
# so no route changes; comma-separated.
flow_sources() {
	local i a list
	list=$(client_addr)
	[ -n "$list" ] || return 1
	for ((i = 0; i < FLOW_SOURCES - 1; i++)); do
		a=$FLOW_SRC_NET.$((FLOW_SRC_FIRST + i))
		ip -n "$NS_CL" addr add "$a/32" dev eth0 2>/dev/null
		list="$list,$a"
	done
	echo "$list"
}

# gen_flows N SOURCES: N one-datagram UDP flows to the internet server. Flow i leaves
# socket j = i / FLOW_DPORTS, bound to SOURCES[j % k] port FLOW_SPORT0 + j / k, for the
# server's port FLOW_DPORT0 + i % FLOW_DPORTS: every flow its own 5-tuple, and the same
# i always the same one, so a second pass only refreshes entries and fills what the
# first lost. Paced at FLOW_RATE; bounded at 120 s.
gen_flows() {
	in_ns "$NS_CL" python3 - "$SRV_IP" "$1" "$2" "$FLOW_RATE" "$FLOW_SPORT0" "$FLOW_NSPORT" "$FLOW_DPORT0" "$FLOW_DPORTS" <<'PY'
import socket, sys, time
server, n, srcs = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
rate, sport0, nsport, dport0, ndport = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
k = len(srcs)
if n > k * nsport * ndport:
    sys.exit("%d flows need more than %d source addresses" % (n, k))
payload = b"flows.sh"
t0 = time.monotonic()
sent = failed = 0
s = None
for i in range(n):
    j, d = divmod(i, ndport)
    if d == 0:
        if s is not None:
            s.close()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((srcs[j % k], sport0 + j // k))
        except OSError:
            pass  # a port in use (the probe flow's): sendto picks an ephemeral one
    try:
        s.sendto(payload, (server, dport0 + d))
        sent += 1
    except OSError:
        failed += 1
    if i % 250 == 249:
        ahead = t0 + (i + 1) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        if time.monotonic() - t0 > 120:
            break
if s is not None:
    s.close()
print("sent %d failed %d in %.0f ms" % (sent, failed, (time.monotonic() - t0) * 1000))
PY
}

# wait_external R TARGET TIMEOUT_S: poll R's external cache every 100 ms until it holds
# TARGET entries, or stops growing for 5 s, or TIMEOUT_S. Prints the last count.
wait_external() {
	local r=$1 target=$2 end now c last=-1 still i
	now=$(now_ms); end=$((now + $3 * 1000)); still=$now
	for ((i = 0; i < 10000; i++)); do
		c=$(external_entries "$r")
		now=$(now_ms)
		[ "$c" -ge "$target" ] && break
		if [ "$c" != "$last" ]; then last=$c still=$now; fi
		[ $((now - still)) -ge 5000 ] && [ "$c" -gt 0 ] && break
		[ "$now" -ge "$end" ] && break
		sleep 0.1
	done
	echo "$c"
}

# history_master R T0_MS: "<plan ms> <commit ms> <commit ok> <VRRP->WAN ms> <-R ms>" of
# R's first MASTER transition that started at/after T0 (history.jsonl, whole seconds);
# VRRP->WAN is the hook's own figure (steps.wan_ms: netifd said the WAN is up).
history_master() {
	python3 - "$(root_of "$1")/var/run/muros-ha/history.jsonl" "$2" <<'PY'
import json, sys
t0 = int(sys.argv[2]) // 1000
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
for l in lines:
    try:
        r = json.loads(l)
    except ValueError:
        continue
    if r.get("to") != "MASTER" or r.get("time", 0) < t0:
        continue
    c = [a for a in r["actions"] if a["action"].endswith(" -c")]
    w = (r.get("steps") or {}).get("wan_ms")
    s = [a for a in r["actions"] if a["action"].endswith(" -R")]
    print(r["ms"], c[0]["ms"] if c else "-", str(c[0]["ok"]).lower() if c else "-",
          w if w is not None else "-", s[0]["ms"] if s else "-")
    break
else:
    print("- - - - -")
PY
}

# ---------------------------------------------------------------- one count
# bench_count N OUTDIR: a fresh pair, N flows, FAILOVERS failovers. Writes OUTDIR/results
# (one line per failover) and OUTDIR/error.
bench_count() {
	FLOW_N=$1 OUT=$2
	mkdir -p "$OUT"
	(
		# shellcheck disable=SC2034 # read by lib.sh
		PREEMPT=0 LAB_ID=${RUN_ID}n$FLOW_N
		lab_init
		local t m o i r n0 last still created srcs pass t_sync target held kc0 kc1 hl hist gap bound s e
		t=$(now_ms)
		lab_up
		# with nopreempt whichever router's timer ran out first is master: find it
		wait_until 15 test_one_master || broken "the pair did not elect a master"
		m=$(masters)
		lab_wait_wan "$m" 10 || broken "no WAN on the master $m"
		# the daemons, paired: the backup keeps the master's WAN lease (issue 16), so
		# a takeover starts its WAN from it while the commit runs
		if [ "$HOOK" = muros ] && [ "$CONFIGS" = render ]; then
			start_daemons && pair_daemons || broken "the daemons did not pair"
		fi
		phase "lab up" "$t"
		for r in ra rb; do rx "$r" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=$FLOW_UDP_TIMEOUT; done
		in_ns "$NS_SRV" nft -f - <<EON || broken "nft in the server namespace"
table inet flowbench {
	chain input {
		type filter hook input priority 0; policy accept;
		udp dport $FLOW_DPORT0-$((FLOW_DPORT0 + FLOW_DPORTS - 1)) drop
	}
}
EON
		srcs=$(flow_sources) || broken "the client has no address"
		sleep 1
		flow_start main || broken "the probe flow did not start"

		# N flows through the master; up to 3 passes until its table holds them
		t=$(now_ms)
		n0=$(kernel_entries "$m")
		created=0
		for pass in 1 2 3; do
			lab_log "generator pass $pass: $(gen_flows "$FLOW_N" "$srcs")"
			# until they are all there or the count stands still for 0.3 s
			last=-1 still=0
			for ((i = 0; i < 50 && still < 3; i++)); do
				created=$(($(kernel_entries "$m") - n0))
				[ "$created" -ge "$FLOW_N" ] && break
				if [ "$created" = "$last" ]; then still=$((still + 1)); else still=0 last=$created; fi
				sleep 0.1
			done
			[ "$created" -ge $((FLOW_N * 99 / 100)) ] && break
		done
		phase "create $FLOW_N flows ($created new entries on $m, $pass pass(es))" "$t"
		[ "$created" -ge $((FLOW_N * 9 / 10)) ] || broken "only $created of $FLOW_N flows in $m's conntrack table"
		echo "$created" >"$OUT/created"

		# the flows reach the backup's external cache (timed from when the master's
		# table holds them; replication runs while they are sent)
		target=$((created * 99 / 100))
		t_sync=$(now_ms)
		for i in $(seq 1 "$FAILOVERS"); do
			o=$(other "$m")
			held=$(wait_external "$o" "$target" "$SYNC_TIMEOUT")
			s=$(($(now_ms) - t_sync))
			if [ "$i" = 1 ]; then
				phase "replication to $o ($held entries in its external cache)" "$t_sync"
				echo "$s" >"$OUT/sync"
			else
				phase "resync of the returning $o ($held entries)" "$t_sync"
				echo "$s" >>"$OUT/resync"
			fi
			[ "$held" -ge $((FLOW_N / 2)) ] || broken "failover $i: $o's external cache holds $held entries, not even half of $FLOW_N"
			sleep 0.5
			kc0=$(kernel_entries "$o")
			t=$(now_ms)
			if [ "$BENCH_FAULT" = powercut ]; then lab_power_cut "$m"; else stop_keepalived "$m"; fi
			lab_wait_master "$o" 15 || broken "failover $i: $o never became master"
			wait_until 15 master_hook_done "$o" "$t" || broken "failover $i: $o's MASTER hook did not finish in 15 s"
			lab_wait_wan "$o" 10 || broken "failover $i: no WAN on $o"
			wait_until 10 flow_alive main || lab_log "failover $i: the probe flow is not alive 10 s after"
			sleep 0.5
			phase "failover $i ($BENCH_FAULT $m -> $o)" "$t"
			kc1=$(kernel_entries "$o")
			hl=$(hook_line_after "$o" MASTER "$t")
			read -r s e _ <<<"$hl"
			hist=$(history_master "$o" "$t")
			tail -n 3 "$(root_of "$o")/var/run/muros-ha/history.jsonl" >"$OUT/history-$i.jsonl" 2>/dev/null
			gap=$(flow_gap_after main udp "$t")
			bound=$(wan_bound_after "$o" "$s")
			# results: gap hook_ms plan_ms commit_ms commit_ok vrrp_to_wan resync_ms
			#          udhcpc_bound kernel_before kernel_after held tcp_resets_so_far
			echo "${gap:-0} $((e - s)) $hist $([ -n "$bound" ] && echo $((bound - s)) || echo -) $kc0 $kc1 $held $([ "$(flow_get main tcp_reset)" = true ] && echo 1 || echo 0)" >>"$OUT/results"
			lab_log "failover $i: $(tail -1 "$OUT/results"); conntrackd -s on $o: $(rx "$o" conntrackd -C "$(root_of "$o")/etc/conntrackd/conntrackd.conf" -s 2>&1 | tr -s ' \t\n' ' ')"
			[ "$i" = "$FAILOVERS" ] && break
			# the old master comes back and must settle as BACKUP before the next one
			t_sync=$(now_ms)
			if [ "$BENCH_FAULT" = powercut ]; then lab_power_on "$m"; else start_keepalived "$m"; fi
			wait_until 15 backup_hook_done "$m" "$t_sync" || broken "failover $i: $m did not come back as BACKUP"
			m=$o
		done
		t=$(now_ms)
		flow_stop main
		lab_down
		phase "teardown" "$t"
	) >"$OUT/log" 2>&1
}

for n in $FLOW_COUNTS; do
	echo "running: $n flows, $FAILOVERS failovers ($BENCH_FAULT), lab ${RUN_ID}n$n" >&2
	bench_count "$n" "$WORK/$n"
done
echo "total: $(($(now_ms) - T_RUN)) ms" >&2

python3 - "$WORK" "$FLOW_COUNTS" "$BENCH_FAULT" <<'PY'
import os, statistics, sys
work, counts, fault = sys.argv[1], sys.argv[2].split(), sys.argv[3]

def num(x):
    try:
        return float(x)
    except ValueError:
        return None

def lines(d, name):
    p = os.path.join(d, name)
    return [l for l in open(p).read().split("\n") if l.strip()] if os.path.exists(p) else []

def mmm(v):
    v = [x for x in v if x is not None]
    return "%.0f / %.0f / %.0f" % (min(v), statistics.median(v), max(v)) if v else "-"

def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None

def k(n):
    n = int(n)
    return "%gk" % (n / 1000) if n >= 1000 else str(n)

ROWS = ["entries on the master", "failovers", "replication ms", "resync of returner ms",
        "UDP gap ms", "hook MASTER total ms", "conntrackd -c ms", "conntrackd -R ms",
        "VRRP->WAN usable ms", "entries committed", "TCP flow reset"]
table, medians, notes = {}, {}, []
for n in counts:
    d = os.path.join(work, n)
    res = [l.split() for l in lines(d, "results")]
    col = lambda i: [num(r[i]) for r in res]
    committed = [num(r[9]) - num(r[8]) for r in res]
    table[n] = {
        "entries on the master": (lines(d, "created") or ["-"])[0],
        "failovers": str(len(res)),
        "replication ms": mmm([num(x) for x in lines(d, "sync")]),
        "resync of returner ms": mmm([num(x) for x in lines(d, "resync")]),
        "UDP gap ms": mmm(col(0)),
        "hook MASTER total ms": mmm(col(1)),
        "conntrackd -c ms": mmm(col(3)),
        "conntrackd -R ms": mmm(col(6)),
        "VRRP->WAN usable ms": mmm(col(5)),
        "entries committed": mmm(committed),
        "TCP flow reset": "yes" if any(r[11:12] == ["1"] for r in res) else "no",
    }
    medians[n] = {"gap": med(col(0)), "commit": med(col(3)), "wan": med(col(5))}
    for e in lines(d, "error"):
        notes.append("%s flows: %s" % (k(n), e))
    failed = sum(1 for r in res if r[4] == "false")
    if failed:
        notes.append("%s flows: %d commit(s) failed in the muros-ha history" % (k(n), failed))

print()
print("muros-ha flow-count benchmark (%s, %s); min / median / max over the failovers" % (fault, os.environ.get("NAT", "snat")))
print("replication: backup's external cache full after the master's table was; resync: after the")
print("old master came back; the WAN comes up beside -c (guarded until it is done), -R follows it")
print("  %-24s" % "flows" + "".join("%-24s" % k(n) for n in counts))
for row in ROWS:
    print("  %-24s" % row + "".join("%-24s" % table[n][row] for n in counts))
for note in notes:
    print("  note: " + note)
a, b = counts[0], counts[-1]
def grow(key):
    x, y = medians[a][key], medians[b][key]
    return "n/a" if x is None or y is None else "%+.0f ms" % (y - x)
if len(counts) > 1:
    print("growth %s->%s: gap %s, commit %s (VRRP->WAN %s; medians)" % (k(a), k(b), grow("gap"), grow("commit"), grow("wan")))
PY
broken_any=0
for n in $FLOW_COUNTS; do
	[ -s "$WORK/$n/error" ] || continue
	broken_any=1
	echo "--- the last lines of the $n-flow lab's log:" >&2
	tail -n 15 "$WORK/$n/log" >&2
done
if [ "$broken_any" = 1 ]; then
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "flows.sh: the setup broke (notes above); logs in $WORK" >&2
	else
		echo "flows.sh: the setup broke (notes above); BENCH_KEEP=1 keeps the logs" >&2
	fi
	[ "${CI:-}" = true ] && exit 1
fi
exit 0
