#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions called by lib.sh, through wait_until or eval
# How long an OpenVPN road-warrior client on the internet side is cut off when the
# master fails. The OpenVPN server is a muros-ha service (`list service 'openvpn'` in
# both routers' muros_ha config, etc/init.d/openvpn = tests/lab/initd/openvpn): the
# notify hook starts it on MASTER (once the shared-MAC WAN is up, so it answers on the
# same public address) and stops it on BACKUP/FAULT/STOP. Both routers carry the same
# server config, CA, certificate, key and tls-crypt key (what muros-ha's replication
# provides on real routers; here the files are simply written twice).
#
#   [srv] openvpn client (CN rw1, tunnel address 198.19.78.10), `remote <WAN lease> 1194`,
#     |   flowtool.py client (TCP) and udpprobe.py (UDP) -> the LAN client, through the tunnel
#   [isp]
#   /   \
# [ra] [rb]  openvpn server on the master only: UDP 1194 on the WAN, tun0 198.19.78.1/24
#   \   /
#   [cl]  flowtool.py server (TCP echo :5001, UDP echo :5002)
#
# Faults (OVPN_FAULTS, default 3 power cuts and 3 graceful keepalived stops,
# interleaved; preempt off, so each fault hits the router that took over last time and
# masters alternate). After each: the client reconnects within RECOVER_TIMEOUT s and
# the tunnel flow has replies again (asserted), the new master runs openvpn and the old
# one does not (asserted); per run and min / median / max per fault kind: the tunnel's
# UDP gap (udpprobe.py: last reply before -> first after), the TCP flow's gap
# (flowtool.py; "-" when retransmission backoff kept it silent 15 s longer), when and why the
# client restarted, when it printed "Initialization Sequence Completed" again, when the
# new master's server was ready, how long the old master's hook spent stopping it. No
# timing is asserted.
#
# What decides the figures (measured, VRRPv3 / 0.1 s): the new master's server is
# ready ~0.2-0.45 s after the fault, but it has no session for the client, and it
# drops the client's packets without a word (before it starts, its WAN answers them
# with ICMP port unreachable, which the client ignores). The client notices only by
# its pushed `ping-restart` (5 s, on a 1 s clock: 4-5 s after the last packet), then
# waits its `connect-retry` pause (1 s), then handshakes in a few ms: ~5-6 s. On a
# graceful stop the old server's `explicit-exit-notify 1` does send RESTART to the
# client, but muros-ha takes the WAN down beside the service stop, so it leaves into
# "Network is unreachable" and only holds the stop (and the hook) ~2 s longer.
#
#   sudo HOOK=muros CONFIGS=render NAT=masquerade VRRP_VERSION=3 ADVERT=0.1 tests/lab/openvpn.sh
#   sudo ... OVPN_FAULTS="powercut stop" tests/lab/openvpn.sh        # a quick look
#   sudo ... OVPN_KEEPALIVE="10 60" RECOVER_TIMEOUT=90 tests/lab/openvpn.sh
#
# Knobs: OVPN_FAULTS ("powercut stop powercut stop powercut stop"), OVPN_KEEPALIVE
# (the server's `keepalive PING RESTART`, "1 5"), OVPN_EXIT_NOTIFY (1: the server's
# `explicit-exit-notify 1`, as in OpenVPN's sample server.conf; 0: none),
# RECOVER_TIMEOUT (s, 60), LAB_KEEP=1 (keep the lab directory with every log).
#
# Needs HOOK=muros (the seed hook starts a fixed list of services) and Debian's openvpn
# and openssl: when openvpn is missing it tries `apt-get install -y openvpn`; if that
# fails the suite is skipped with the reason, or fails under CI=true.
# (the functions below are called from lib.sh, through wait_until or from traps)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
HOOK=${HOOK:-muros}
CONFIGS=${CONFIGS:-render}
OVPN_FAULTS=${OVPN_FAULTS:-powercut stop powercut stop powercut stop}
OVPN_KEEPALIVE=${OVPN_KEEPALIVE:-1 5}
OVPN_EXIT_NOTIFY=${OVPN_EXIT_NOTIFY:-1}
RECOVER_TIMEOUT=${RECOVER_TIMEOUT:-60}
OVPN_PORT=1194
OVPN_DEV=tun0
# tunnel addresses from the benchmark range (198.19.0.0/16), beside WG=1's 198.19.77.0/24
OVPN_NET=198.19.78.0
OVPN_MASK=255.255.255.0
OVPN_CLIENT_CN=rw1
OVPN_CLIENT_ADDR=198.19.78.10
# shellcheck disable=SC2034 # read by svcsuite.sh
SUITE=openvpn.sh SVC=openvpn FLOW=ovpn
# shellcheck disable=SC1091 # the lab library and the service suites' shared half, beside this file
. "$HERE/lib.sh"
# shellcheck disable=SC1091
. "$HERE/svcsuite.sh"
[ "$(id -u)" = 0 ] || skip_or_fail "needs root (network namespaces)"
[ "$HOOK" = muros ] || skip_or_fail "needs HOOK=muros (the seed hook starts only dnsmasq, odhcpd, miniupnpd)"
if ! command -v openvpn >/dev/null; then
	echo "openvpn.sh: openvpn is missing, trying apt-get install -y openvpn" >&2
	DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq --no-install-recommends openvpn >/dev/null 2>&1
	command -v openvpn >/dev/null || skip_or_fail "openvpn is missing, and apt-get install openvpn did not provide it (Debian package: openvpn)"
fi
command -v openssl >/dev/null || skip_or_fail "openssl is missing (Debian package: openssl)"
[ -c /dev/net/tun ] || skip_or_fail "no /dev/net/tun on this host"

knob_ok() {
	if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
		echo "openvpn.sh: $1=$2 is not a number in $3..$4" >&2
		exit 2
	fi
}
faults_ok OVPN_FAULTS "$OVPN_FAULTS"
read -r KA_PING KA_RESTART KA_EXTRA <<<"$OVPN_KEEPALIVE"
[ -z "${KA_EXTRA:-}" ] || { echo "openvpn.sh: OVPN_KEEPALIVE is 'PING RESTART'" >&2; exit 2; }
knob_ok "OVPN_KEEPALIVE ping" "${KA_PING:-x}" 1 60
knob_ok "OVPN_KEEPALIVE restart" "${KA_RESTART:-x}" 2 600
knob_ok OVPN_EXIT_NOTIFY "$OVPN_EXIT_NOTIFY" 0 1
knob_ok RECOVER_TIMEOUT "$RECOVER_TIMEOUT" 5 600

# ---------------------------------------------------------------- the lab, extended
# the init script, and the server's files (the same on both routers)
write_misc() {
	svc_orig_write_misc "$@" || return
	local r=$1 root d; root=$(root_of "$r") d=$(root_of "$r")/etc/openvpn
	install -m 755 "$HERE/initd/openvpn" "$root/etc/init.d/openvpn"
	mkdir -p "$d/ccd"
	chmod 700 "$d"
	install -m 644 "$OVPN_PKI/ca.crt" "$OVPN_PKI/server.crt" "$d/"
	install -m 600 "$OVPN_PKI/server.key" "$OVPN_PKI/tc.key" "$d/"
	write_server_conf >"$d/server.conf"
	# a fixed tunnel address per client (the pool's state is not replicated; a
	# client-config-dir is): the flow through the tunnel keeps its source address
	printf 'ifconfig-push %s %s\n' "$OVPN_CLIENT_ADDR" "$OVPN_MASK" >"$d/ccd/$OVPN_CLIENT_CN"
}

write_server_conf() {
	cat <<EOC
# written by tests/lab/openvpn.sh; the same file on both routers
port $OVPN_PORT
proto udp4
dev $OVPN_DEV
dev-type tun
topology subnet
server $OVPN_NET $OVPN_MASK nopool
client-config-dir ccd
ccd-exclusive
push "route 192.0.2.0 255.255.255.0"
# ping every $KA_PING s, restart after $((KA_RESTART * 2)) s of silence on the server;
# pushed to clients as ping $KA_PING / ping-restart $KA_RESTART
keepalive $KA_PING $KA_RESTART
ca ca.crt
cert server.crt
key server.key
dh none
tls-crypt tc.key
remote-cert-tls client
persist-key
persist-tun
$([ "$OVPN_EXIT_NOTIFY" = 1 ] && echo "explicit-exit-notify 1")
# no kernel module (ovpn-dco) is loaded on the host for the lab
disable-dco
verb 3
EOC
}

# What fw4 renders for a `vpn` zone on tun0 (input accept, forwardings lan<->vpn) and a
# traffic rule "Allow-OpenVPN" (UDP 1194 on the WAN). They go into the fw4 table
# itself: a table of our own could accept these packets, but fw4's base chains (policy
# drop, a final reject on the WAN) would still drop them: a packet must pass every
# base chain of a hook. The rules land in the router's etc/lab-fw4.nft, which
# lab_power_on loads again after a power cut.
write_firewall() {
	svc_orig_write_firewall "$@" || return
	local f; f=$(root_of "$1")/etc/lab-fw4.nft
	awk -v wan="$WAN_DEV" -v tun="$OVPN_DEV" -v port="$OVPN_PORT" '
		/^[ \t]*chain [a-z_]+ \{/ { chain = $2 }
		{ print }
		/ct state invalid/ && chain == "input" && !i {
			printf "\t\tiifname \"%s\" accept\n\t\tiifname \"%s\" udp dport %s accept\n", tun, wan, port; i = 1
		}
		/ct state invalid/ && chain == "forward" && !f {
			printf "\t\tiifname \"lan0\" oifname \"%s\" accept\n\t\tiifname \"%s\" oifname \"lan0\" accept\n", tun, tun; f = 1
		}
		END { if (!i || !f) exit 1 }' "$f" >"$f.new" || lab_die "$1: no 'ct state invalid' rule in fw4's input/forward chains of $f to put the OpenVPN rules after"
	mv "$f.new" "$f"
}

# ---------------------------------------------------------------- PKI
# A throwaway CA (EC P-256), a server and a client certificate with the key usages
# `remote-cert-tls` checks, and a tls-crypt key. Into the lab directory.
ovpn_pki() {
	OVPN_PKI=$LAB_DIR/ovpn/pki
	mkdir -p "$OVPN_PKI" && chmod 700 "$OVPN_PKI"
	(
		cd "$OVPN_PKI" || exit 1
		umask 077
		set -e
		ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
		openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 2 -subj /CN=muros-lab-openvpn-ca \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
		for n in server "$OVPN_CLIENT_CN"; do
			eku=clientAuth; [ "$n" = server ] && eku=serverAuth
			printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=%s\n' "$eku" >"$n.ext"
			openssl req "${ec[@]}" -keyout "$n.key" -out "$n.csr" -subj "/CN=$n"
			openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$n.ext" -out "$n.crt"
		done
		openvpn --genkey secret tc.key
	) >"$LAB_DIR/ovpn/pki.log" 2>&1
}

# ---------------------------------------------------------------- the road warrior in srv
OVPN_CLIENT_DIR=
ovpn_client_up() {
	local wan=$1 d=$LAB_DIR/ovpn/client
	OVPN_CLIENT_DIR=$d
	mkdir -p "$d" && chmod 700 "$d"
	install -m 644 "$OVPN_PKI/ca.crt" "$OVPN_PKI/$OVPN_CLIENT_CN.crt" "$d/"
	install -m 600 "$OVPN_PKI/$OVPN_CLIENT_CN.key" "$OVPN_PKI/tc.key" "$d/"
	# what a road warrior's .ovpn holds (OpenVPN's sample client.conf, with tls-crypt);
	# ping / ping-restart come from the server's push
	cat >"$d/client.conf" <<EOC
client
dev $OVPN_DEV
dev-type tun
proto udp4
remote $wan $OVPN_PORT
nobind
resolv-retry infinite
persist-key
persist-tun
remote-cert-tls server
ca ca.crt
cert $OVPN_CLIENT_CN.crt
key $OVPN_CLIENT_CN.key
tls-crypt tc.key
disable-dco
verb 3
EOC
	ip netns exec "$NS_SRV" openvpn --cd "$d" --config client.conf --machine-readable-output \
		--writepid "$d/openvpn.pid" </dev/null >>"$d/openvpn.log" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
}
client_init_after() { [ -n "$(log_ms_after "$OVPN_CLIENT_DIR/openvpn.log" "$1" "Initialization Sequence Completed")" ]; }
# why the client restarted first after T0: "<ms> <reason>" (SIGUSR1[soft,REASON])
client_restart_after() {
	awk -v t="$2" '$1 ~ /^[0-9]+\.[0-9]+$/ && $1 * 1000 >= t && /SIGUSR1\[/ {
		r = $0; sub(/.*SIGUSR1\[[a-z]+,/, "", r); sub(/\].*/, "", r); printf "%.0f %s\n", $1 * 1000, r; exit}' "$1" 2>/dev/null
}
server_log() { echo "$(root_of "$1")/var/log/openvpn.log"; }
# ms of the `openvpn stop` in router R's first STOP/BACKUP/FAULT transition at/after T0
# ms (muros-ha's history; a router whose power was cut has none): "-" when none
old_stop_ms() {
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
    if r.get("to") in ("STOP", "BACKUP", "FAULT") and r.get("time", 0) >= t0:
        a = [x for x in r.get("actions", []) if x.get("action", "").endswith("/openvpn stop")]
        print(a[0]["ms"] if a else "-")
        break
else:
    print("-")
PY
}
# router R's server initialised at/after T0 ms
server_ready() { [ -n "$(log_ms_after "$(server_log "$1")" "$2" "Initialization Sequence Completed")" ]; }

# the tunnel is back through the new master: the client reconnected since T0 ms and
# replies come again
recovered() { client_init_after "$2" && flow_fresh udp "$2"; }

# one run's own columns: reset restart reason reconnected server_ready takeover wan old_stop
row_extra() {
	local m=$1 o=$2 t0=$3 kind=$4 rs_ms rs_why ci sr hl wan st
	read -r rs_ms rs_why <<<"$(client_restart_after "$OVPN_CLIENT_DIR/openvpn.log" "$t0")"
	ci=$(log_ms_after "$OVPN_CLIENT_DIR/openvpn.log" "$t0" "Initialization Sequence Completed")
	sr=$(log_ms_after "$(server_log "$o")" "$t0" "Initialization Sequence Completed")
	hl=$(hook_line_after "$o" MASTER "$t0")
	wan=$(wan_addr "$o")
	[ "$wan" = "$WAN0" ] || lab_log "WARNING: the new master's WAN is '$wan', not $WAN0"
	# after a power cut the old master's next transition is its BACKUP at boot, not a stop
	st=-; [ "$kind" = stop ] && st=$(old_stop_ms "$m" "$t0")
	echo "$([ "$(flow_get "$FLOW" tcp_reset)" = true ] && echo yes || echo no) $(rel "${rs_ms:-}") ${rs_why:--} $(rel "$ci") $(rel "$sr") $(rel "${hl%% *}") ${wan:--} $st"
}

# ---------------------------------------------------------------- the report
report() {
	if [ -z "$RESULTS" ] || [ ! -s "$RESULTS" ]; then echo "openvpn.sh: no run finished"; return 0; fi
	python3 - "$RESULTS" "$KA_PING" "$KA_RESTART" "$OVPN_EXIT_NOTIFY" <<'PY'
import os, sys
path, ping, restart, notify = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = [l.split() for l in open(path).read().split("\n") if l.strip()]
# kind from to udp_gap tcp_gap tcp_reset restart_ms reason client_init_ms server_ready_ms takeover_ms wan old_stop_ms
names = {"powercut": "power cut", "stop": "graceful stop"}
print()
print("OpenVPN road warrior (srv) -> LAN client through the master's tunnel; VRRPv%s advert %ss, NAT=%s"
      % (os.environ.get("VRRP_VERSION", "2"), os.environ.get("ADVERT", "1"), os.environ.get("NAT", "snat")))
print("server: keepalive %s %s (client gets ping %s / ping-restart %s)%s; client: persist-tun, remote = the WAN lease"
      % (ping, restart, ping, restart, ", explicit-exit-notify 1" if notify == "1" else ""))
print("all ms after the fault; restart = the client's SIGUSR1 (reason); reconnected = its next")
print("'Initialization Sequence Completed'; server ready = the new master's; takeover = its MASTER hook start;")
print("old stop = how long the old master's hook spent in `init.d/openvpn stop` (none after a power cut)")
hdr = "%-3s %-13s %-7s %8s %8s %-5s %8s %-22s %11s %12s %9s %8s" % (
    "#", "fault", "master", "UDP gap", "TCP gap", "reset", "restart", "reason", "reconnected", "server ready", "takeover", "old stop")
print(hdr)
for i, r in enumerate(rows, 1):
    print("%-3d %-13s %-7s %8s %8s %-5s %8s %-22s %11s %12s %9s %8s" % (
        i, names.get(r[0], r[0]), r[1] + ">" + r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[12]))
kinds = [k for k in ("powercut", "stop") if any(r[0] == k for r in rows)]
for k in kinds:
    print("%s: restart reasons %s, TCP flow reset %s" % (names[k], ",".join(sorted(set(r[7] for r in rows if r[0] == k))),
          "yes" if any(r[5] == "yes" for r in rows if r[0] == k) else "no"))
PY
	summary "tunnel UDP gap ms:3" "tunnel TCP gap ms:4" "client restart ms:6" "client reconnected ms:8" \
		"new server ready ms:9" "takeover (hook) ms:10" "old master's stop ms:12"
}

# ---------------------------------------------------------------- run
T_RUN=$(now_ms)
# shellcheck disable=SC2034 # read by lib.sh
PREEMPT=0
lab_init
RESULTS=$LAB_DIR/ovpn/results
mkdir -p "$LAB_DIR/ovpn"
: >"$RESULTS"
ovpn_pki || lab_die "PKI generation failed (see $LAB_DIR/ovpn/pki.log): $(tail -n 3 "$LAB_DIR/ovpn/pki.log" | tr '\n' ' ')"
lab_up
wait_until 15 test_one_master || fail_now "the pair did not elect a master"
M=$(masters)
lab_wait_wan "$M" 10 || fail_now "no WAN on the master $M"
WAN0=$(wan_addr "$M")
if [ "$CONFIGS" = render ]; then
	{ start_daemons && pair_daemons; } || fail_now "the muros-ha daemons did not pair"
fi
for r in ra rb; do rx "$r" nft list chain inet fw4 input 2>/dev/null | grep -q "udp dport $OVPN_PORT accept" || fail_now "$r: the OpenVPN firewall rule is not loaded"; done
wait_until 10 only_on "$M" || fail_now "openvpn runs on [$(service_running ra openvpn && echo ra) $(service_running rb openvpn && echo rb)], expected on the master $M only (see $(server_log "$M"))"
wait_until 10 server_ready "$M" 0 || fail_now "the server on $M did not initialise: $(tail -n 5 "$(server_log "$M")" | tr '\n' ' ')"
t=$(now_ms)
ovpn_client_up "$WAN0"
wait_until 20 client_init_after "$t" || fail_now "the client in srv did not connect to $WAN0:$OVPN_PORT in 20 s: $(tail -n 5 "$OVPN_CLIENT_DIR/openvpn.log" | tr '\n' ' ')"
lab_log "openvpn client connected to $WAN0:$OVPN_PORT (master $M) in $(($(now_ms) - t)) ms"
CL=$(client_addr)
[ -n "$CL" ] || fail_now "the LAN client has no address"
tunnel_flow_start "$NS_SRV" "$NS_CL" "$CL" || fail_now "the tunnel flow did not start (see $LAB_DIR/flow-ovpn.log)"
wait_until 5 flow_fresh udp 0 || fail_now "no UDP replies through the tunnel"
wait_until 5 flow_fresh tcp 0 || fail_now "no TCP replies through the tunnel"
lab_log "tunnel flow srv ($OVPN_CLIENT_ADDR) -> cl ($CL) running; setup took $(($(now_ms) - T_RUN)) ms"
sleep 1

run_faults "$OVPN_FAULTS"
report
# shellcheck disable=SC2154 # i: the runs svcsuite.sh's run_faults made
echo "openvpn.sh: $i fault(s), tunnel back after each; total $(($(now_ms) - T_RUN)) ms"
exit 0
