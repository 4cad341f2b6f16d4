#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions called by lib.sh, through wait_until or eval
# How long an IPsec site-to-site tunnel (IKEv2, PSK) from the HA pair's LAN to a remote
# site is cut off when the master fails.
#
# NOTE: the lab host's kernel has no ESP/AH (CONFIG_INET_ESP unset, no XFRM SAs can be
# installed), so strongSwan's kernel-libipsec plugin stands in for the kernel's ESP: it
# does ESP (in UDP, encap = yes) in charon's userspace on a TUN device `ipsec0` and
# routes into it (table 220). The data-plane timings are therefore a userspace
# approximation; the IKE re-establishment (charon 5.9, IKE_SA_INIT + IKE_AUTH, DPD,
# unique-ID replacement on the far side) is the real thing.
#
#   [srv] 203.0.113.10: charon (kernel-libipsec), far0 (veth) 198.19.79.1/24,
#     |   flowtool.py server on 198.19.79.1 (TCP :5001, UDP :5002)
#   [isp]
#   /   \
# [ra] [rb]  charon on the master only (`list service 'ipsec'`, etc/init.d/ipsec =
#   \   /    tests/lab/initd/ipsec), same swanctl.conf and PSK on both routers
#   [cl]  flowtool.py client and udpprobe.py -> 198.19.79.1 through the tunnel
#
# The choices that make it fail over:
# - routers: children.lan.start_action = start: charon initiates the IKE_SA and the
#   CHILD_SA as soon as the connection is loaded, i.e. when muros-ha's hook starts the
#   service on the new master (after it brought the shared-MAC WAN up: same public
#   address). keyingtries = 0 (retry for ever), dpd_action = restart, close_action =
#   start: the master re-keys by itself if the far side ever drops the SA.
# - srv: unique = replace: a new IKE_SA with the same identities (the new master uses
#   the same ID and PSK) replaces the stale one of the dead master at once, so srv does
#   not keep routing into an SA whose peer is gone. dpd_delay = 1s with short
#   retransmissions (charon.retransmit_*: about 3 s in all) and dpd_action = clear: an
#   SA whose peer is silent is torn down even when no new master comes.
#
# Faults (IPSEC_FAULTS, default "powercut stop powercut stop"; preempt off, so each
# fault hits the router that took over last time and masters alternate). After each:
# the tunnel carries traffic again within RECOVER_TIMEOUT s (asserted), the new master
# runs charon and the old one does not (asserted). Per run and min / median / max per
# fault kind: the tunnel's UDP gap (udpprobe.py), TCP gap (flowtool.py; "-" when
# backoff kept it silent 15 s longer), when the new master's CHILD_SA was established
# and when its MASTER hook started (ms after the fault). No timing is asserted.
#
#   sudo HOOK=muros CONFIGS=render NAT=masquerade VRRP_VERSION=3 ADVERT=0.1 tests/lab/ipsec.sh
#
# Needs HOOK=muros and Debian's strongswan-charon, strongswan-swanctl and
# libcharon-extra-plugins (kernel-libipsec); missing: skipped with the reason, or a
# failure under CI=true. Knobs: IPSEC_FAULTS, RECOVER_TIMEOUT (s, 60), LAB_KEEP=1.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
HOOK=${HOOK:-muros}
CONFIGS=${CONFIGS:-render}
IPSEC_FAULTS=${IPSEC_FAULTS:-powercut stop powercut stop}
RECOVER_TIMEOUT=${RECOVER_TIMEOUT:-60}
CHARON=/usr/lib/ipsec/charon
LIBIPSEC_SO=/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so
IPSEC_DEV=ipsec0
FAR_NET=198.19.79.0/24
FAR_ADDR=198.19.79.1
GW_ID=gw.lab.test
SRV_ID=srv.lab.test
# shellcheck disable=SC1091 # the lab library, beside this file
. "$HERE/lib.sh"

skip_or_fail() {
	if [ "${CI:-}" = true ]; then echo "ipsec.sh: FAIL: $*" >&2; exit 1; fi
	echo "ipsec.sh: SKIP: $*"
	exit 0
}
[ "$(id -u)" = 0 ] || skip_or_fail "needs root (network namespaces)"
[ "$HOOK" = muros ] || skip_or_fail "needs HOOK=muros (the seed hook starts only dnsmasq, odhcpd, miniupnpd)"
[ -x "$CHARON" ] || skip_or_fail "no $CHARON (Debian package strongswan-charon)"
command -v swanctl >/dev/null || skip_or_fail "no swanctl (Debian package strongswan-swanctl)"
[ -r "$LIBIPSEC_SO" ] || skip_or_fail "no kernel-libipsec plugin $LIBIPSEC_SO (Debian package libcharon-extra-plugins)"
[ -c /dev/net/tun ] || skip_or_fail "no /dev/net/tun on this host"
command -v unshare >/dev/null || skip_or_fail "no unshare (util-linux)"
n_faults=0
for f in $IPSEC_FAULTS; do
	case $f in powercut | stop) n_faults=$((n_faults + 1)) ;; *) echo "ipsec.sh: IPSEC_FAULTS holds powercut or stop, not '$f'" >&2; exit 2 ;; esac
done
if [ "$n_faults" -lt 1 ] || [ "$n_faults" -gt 20 ]; then echo "ipsec.sh: 1..20 IPSEC_FAULTS" >&2; exit 2; fi
if ! [[ $RECOVER_TIMEOUT =~ ^[0-9]+$ ]] || [ "$RECOVER_TIMEOUT" -lt 5 ]; then echo "ipsec.sh: RECOVER_TIMEOUT is a number >= 5" >&2; exit 2; fi
# a throwaway pre-shared key for this run
PSK=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')

# ---------------------------------------------------------------- the lab, extended
# lib.sh's router-file writers, wrapped (lib.sh is not ours to edit)
for f in write_uci write_misc write_firewall; do
	declare -F "$f" >/dev/null || { echo "ipsec.sh: lib.sh has no $f() to extend" >&2; exit 1; }
done
eval "ipsec_orig_write_uci() $(declare -f write_uci | tail -n +2)"
eval "ipsec_orig_write_misc() $(declare -f write_misc | tail -n +2)"
eval "ipsec_orig_write_firewall() $(declare -f write_firewall | tail -n +2)"

write_uci() {
	ipsec_orig_write_uci "$@" || return
	local f; f=$(root_of "$1")/etc/config/muros_ha
	sed -i "/^config global /a\\\\tlist service 'ipsec'" "$f"
	grep -q "^	list service 'ipsec'$" "$f" || lab_die "$1: could not add list service 'ipsec' to $f"
}

# strongswan.conf for charon in directory ROOT (log, vici socket under it); EXTRA
# lines go into the charon section
write_strongswan_conf() {
	local root=$1 extra=${2:-}
	cat <<EOC
# written by tests/lab/ipsec.sh
charon {
	# only what the lab needs: strongSwan's own crypto plugins (libstrongswan; the
	# openssl plugin is in libstrongswan-standard-plugins, not needed), and
	# kernel-libipsec (ESP in userspace, TUN device) before kernel-netlink (addresses,
	# routes), as this kernel has no XFRM ESP
	load = random nonce aes sha1 sha2 hmac kdf gmp kernel-libipsec kernel-netlink socket-default vici
	install_virtual_ip = no
	plugins {
		vici {
			socket = unix://$root/var/run/ipsec/charon.vici
		}
	}
$extra
	filelog {
		lab {
			path = $root/var/log/charon.log
			time_format = %s
			time_add_ms = yes
			ike_name = yes
			default = 1
			append = yes
			flush_line = yes
		}
	}
	syslog {
		daemon {
			default = -1
		}
	}
}
swanctl {
	load = random nonce
}
EOC
}

# the routers' connection (the same file on both)
write_router_swanctl() {
	cat <<EOC
# written by tests/lab/ipsec.sh; the same file on both routers
connections {
	site {
		version = 2
		remote_addrs = $SRV_IP
		encap = yes
		proposals = aes128-sha256-modp2048
		keyingtries = 0
		dpd_delay = 5s
		local {
			auth = psk
			id = $GW_ID
		}
		remote {
			auth = psk
			id = $SRV_ID
		}
		children {
			lan {
				local_ts = 192.0.2.0/24
				remote_ts = $FAR_NET
				esp_proposals = aes128-sha256
				start_action = start
				dpd_action = restart
				close_action = start
			}
		}
	}
}
secrets {
	ike-site {
		id-gw = $GW_ID
		id-srv = $SRV_ID
		secret = 0x$PSK
	}
}
EOC
}

write_misc() {
	ipsec_orig_write_misc "$@" || return
	local r=$1 root d; root=$(root_of "$r") d=$(root_of "$r")/etc/ipsec
	install -m 755 "$HERE/initd/ipsec" "$root/etc/init.d/ipsec"
	install -m 755 "$HERE/with-run.sh" "$root/lib/lab/with-run.sh"
	mkdir -p "$d" "$root/var/run/ipsec" && chmod 700 "$d"
	write_strongswan_conf "$root" "	retransmit_timeout = 1.0
	retransmit_base = 1.4
	retransmit_tries = 3" >"$d/strongswan.conf"
	( umask 077; write_router_swanctl >"$d/swanctl.conf" )
}

# fw4-style rules, in fw4's own table as openvpn.sh does: IKE and ESP-in-UDP on the
# WAN, the TUN device as a `vpn` zone with forwardings lan <-> vpn
write_firewall() {
	ipsec_orig_write_firewall "$@" || return
	local f; f=$(root_of "$1")/etc/lab-fw4.nft
	awk -v wan="$WAN_DEV" -v tun="$IPSEC_DEV" '
		/^[ \t]*chain [a-z_]+ \{/ { chain = $2 }
		{ print }
		/ct state invalid/ && chain == "input" && !i {
			printf "\t\tiifname \"%s\" accept\n\t\tiifname \"%s\" udp dport { 500, 4500 } accept\n", tun, wan; i = 1
		}
		/ct state invalid/ && chain == "forward" && !f {
			printf "\t\tiifname \"lan0\" oifname \"%s\" accept\n\t\tiifname \"%s\" oifname \"lan0\" accept\n", tun, tun; f = 1
		}
		END { if (!i || !f) exit 1 }' "$f" >"$f.new" || lab_die "$1: no 'ct state invalid' rule in fw4's input/forward chains of $f"
	mv "$f.new" "$f"
}

# ---------------------------------------------------------------- the far site in srv
SRV_DIR=
srv_ipsec_up() {
	SRV_DIR=$LAB_DIR/srv-ipsec
	local d=$SRV_DIR/etc/ipsec
	mkdir -p "$d" "$SRV_DIR/var/run/ipsec" "$SRV_DIR/var/log" && chmod 700 "$d"
	# the far site's LAN: a veth pair inside srv (this host's kernel has no dummy
	# interfaces either), the address on far0
	ip -n "$NS_SRV" link add far0 type veth peer name far1 || return 1
	ip -n "$NS_SRV" addr add "$FAR_ADDR/24" dev far0 || return 1
	ip -n "$NS_SRV" link set far1 up && ip -n "$NS_SRV" link set far0 up || return 1
	# short DPD: three retransmissions 1, 1.4, 2 s apart
	write_strongswan_conf "$SRV_DIR" "	retransmit_timeout = 1.0
	retransmit_base = 1.4
	retransmit_tries = 2" >"$d/strongswan.conf"
	( umask 077; cat >"$d/swanctl.conf" <<EOC
# written by tests/lab/ipsec.sh: the far site's gateway (responder)
connections {
	site {
		version = 2
		local_addrs = $SRV_IP
		remote_addrs = %any
		encap = yes
		proposals = aes128-sha256-modp2048
		unique = replace
		dpd_delay = 1s
		local {
			auth = psk
			id = $SRV_ID
		}
		remote {
			auth = psk
			id = $GW_ID
		}
		children {
			lan {
				local_ts = $FAR_NET
				remote_ts = 192.0.2.0/24
				esp_proposals = aes128-sha256
				dpd_action = clear
			}
		}
	}
}
secrets {
	ike-site {
		id-gw = $GW_ID
		id-srv = $SRV_ID
		secret = 0x$PSK
	}
}
EOC
	)
	STRONGSWAN_CONF=$d/strongswan.conf ip netns exec "$NS_SRV" "$HERE/with-run.sh" "$SRV_DIR/var/run/ipsec" "$CHARON" \
		</dev/null >>"$SRV_DIR/var/log/ipsec.log" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	wait_until 5 test -S "$SRV_DIR/var/run/ipsec/charon.vici" || return 1
	STRONGSWAN_CONF=$d/strongswan.conf swanctl --load-all --noprompt --file "$d/swanctl.conf" \
		--uri "unix://$SRV_DIR/var/run/ipsec/charon.vici" >>"$SRV_DIR/var/log/ipsec.log" 2>&1
}

# epoch ms of the first line of charon log FILE at/after T0 ms matching the awk regex RE
# (filelog lines start with "SECONDS.MS")
log_ms_after() {
	awk -v t="$2" -v re="$3" '$1 ~ /^[0-9]+\.[0-9]+$/ && $1 * 1000 >= t && $0 ~ re {printf "%.0f\n", $1 * 1000; exit}' "$1" 2>/dev/null
}
# the tunnel is back through router R: its CHILD_SA came up after T0 ms and replies
# arrived after that (a reply in flight at the fault does not count)
ipsec_recovered() {
	local cs; cs=$(log_ms_after "$(root_of "$1")/var/log/charon.log" "$2" "CHILD_SA lan.* established")
	[ -n "$cs" ] && flow_fresh udp "$cs"
}
child_up_after() { [ -n "$(log_ms_after "$(root_of "$1")/var/log/charon.log" "$2" "CHILD_SA lan.* established")" ]; }

# the tunnel flow: flowtool's server on the far site, its client and udpprobe.py on cl
ipsec_flow_start() {
	in_ns "$NS_SRV" python3 "$LAB_HERE/flowtool.py" server --bind "$FAR_ADDR" >"$LAB_DIR/ipsec-flowtool-server.log" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	sleep 0.3
	rm -f "$LAB_DIR"/flow-ipsec*.json "$LAB_DIR"/flow-ipsec*.stop
	in_ns "$NS_CL" python3 "$LAB_HERE/flowtool.py" client --server "$FAR_ADDR" \
		--status "$LAB_DIR/flow-ipsec.json" --stop-file "$LAB_DIR/flow-ipsec.stop" \
		--duration 600 >"$LAB_DIR/flow-ipsec.log" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	# shellcheck disable=SC2034 # read by lib.sh's flow_stop
	FLOW_PID_ipsec=$!
	in_ns "$NS_CL" python3 "$LAB_HERE/udpprobe.py" --server "$FAR_ADDR" \
		--status "$LAB_DIR/flow-ipsecudp.json" --stop-file "$LAB_DIR/flow-ipsecudp.stop" \
		--duration 600 >"$LAB_DIR/flow-ipsecudp.log" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	# shellcheck disable=SC2034 # read by lib.sh's flow_stop
	FLOW_PID_ipsecudp=$!
	wait_until 8 test -s "$LAB_DIR/flow-ipsec.json" && wait_until 8 test -s "$LAB_DIR/flow-ipsecudp.json"
}
# PROTO (udp: udpprobe.py, tcp: flowtool.py) replies within the last second, after T0 ms
flow_fresh() {
	local f=$LAB_DIR/flow-ipsec.json
	[ "$1" = udp ] && f=$LAB_DIR/flow-ipsecudp.json
	python3 -c '
import json, sys, time
d = json.load(open(sys.argv[1])); last = d.get(sys.argv[2] + "_last")
ok = last is not None and time.time() - last < 1.0 and last * 1000 >= float(sys.argv[3])
sys.exit(0 if ok else 1)' "$f" "$1" "${2:-0}" 2>/dev/null
}

# ---------------------------------------------------------------- checks
test_one_master() { [ "$(master_count)" = 1 ]; }
backup_hook_done() { [ -n "$(hook_line_after "$1" BACKUP "$2")" ]; }
only_on() { service_running "$1" ipsec && ! service_running "$(other "$1")" ipsec; }
not_on() { ! service_running "$1" ipsec; }
running_str() { local r s=""; for r in ra rb; do service_running "$r" ipsec && s="$s $r"; done; echo "[${s# }]"; }

RESULTS=
fail_now() {
	lab_log "FAIL: $*"
	report
	exit 1
}

report() {
	if [ -z "$RESULTS" ] || [ ! -s "$RESULTS" ]; then echo "ipsec.sh: no run finished"; return 0; fi
	python3 - "$RESULTS" <<'PY'
import os, statistics, sys
rows = [l.split() for l in open(sys.argv[1]).read().split("\n") if l.strip()]
# kind from to udp_gap tcp_gap child_ms takeover_ms
names = {"powercut": "power cut", "stop": "graceful stop"}
def num(x):
    try:
        return float(x)
    except ValueError:
        return None
print()
print("IPsec site-to-site (IKEv2 PSK, strongSwan kernel-libipsec) cl -> 198.19.79.1 via the master; VRRPv%s advert %ss, NAT=%s"
      % (os.environ.get("VRRP_VERSION", "2"), os.environ.get("ADVERT", "1"), os.environ.get("NAT", "snat")))
print("ms after the fault; CHILD_SA = the new master's 'CHILD_SA lan{n} established'; takeover = its MASTER hook start")
print("%-3s %-13s %-7s %8s %8s %9s %9s" % ("#", "fault", "master", "UDP gap", "TCP gap", "CHILD_SA", "takeover"))
for i, r in enumerate(rows, 1):
    print("%-3d %-13s %-7s %8s %8s %9s %9s" % (i, names.get(r[0], r[0]), r[1] + ">" + r[2], r[3], r[4], r[5], r[6]))
def mmm(v):
    v = [x for x in v if x is not None]
    return "%.0f / %.0f / %.0f" % (min(v), statistics.median(v), max(v)) if v else "-"
kinds = [k for k in ("powercut", "stop") if any(r[0] == k for r in rows)]
print()
print("min / median / max per fault kind")
print("  %-22s" % "" + "".join("%-24s" % ("%s (%d)" % (names[k], sum(1 for r in rows if r[0] == k))) for k in kinds))
for title, c in (("tunnel UDP gap ms", 3), ("tunnel TCP gap ms", 4), ("CHILD_SA up ms", 5), ("takeover (hook) ms", 6)):
    print("  %-22s" % title + "".join("%-24s" % mmm([num(r[c]) for r in rows if r[0] == k]) for k in kinds))
PY
}

# ---------------------------------------------------------------- run
T_RUN=$(now_ms)
# shellcheck disable=SC2034 # read by lib.sh
PREEMPT=0
lab_init
RESULTS=$LAB_DIR/ipsec-results
: >"$RESULTS"
lab_up
wait_until 15 test_one_master || fail_now "the pair did not elect a master"
M=$(masters)
lab_wait_wan "$M" 10 || fail_now "no WAN on the master $M"
if [ "$CONFIGS" = render ]; then
	{ start_daemons && pair_daemons; } || fail_now "the muros-ha daemons did not pair"
fi
srv_ipsec_up || fail_now "charon in srv did not start: $(tail -n 5 "$SRV_DIR/var/log/ipsec.log" | tr '\n' ' ')"
wait_until 10 only_on "$M" || fail_now "charon runs on $(running_str), expected on the master $M only (see $(root_of "$M")/var/log/ipsec.log)"
wait_until 15 child_up_after "$M" 0 || fail_now "no CHILD_SA on $M: $(tail -n 8 "$(root_of "$M")/var/log/charon.log" | tr '\n' ' ')"
[ -n "$(client_addr)" ] || fail_now "the LAN client has no address"
ipsec_flow_start || fail_now "the tunnel flow did not start (see $LAB_DIR/flow-ipsec.log)"
wait_until 5 flow_fresh udp 0 || fail_now "no UDP replies through the tunnel"
wait_until 5 flow_fresh tcp 0 || fail_now "no TCP replies through the tunnel"
lab_log "tunnel flow cl ($(client_addr)) -> $FAR_ADDR via $M running; setup took $(($(now_ms) - T_RUN)) ms"
sleep 1

rel() { if [ -n "$1" ]; then echo $(($1 - t)); else echo -; fi; }
i=0
for kind in $IPSEC_FAULTS; do
	i=$((i + 1))
	O=$(other "$M")
	[ "$(masters)" = "$M" ] || fail_now "run $i: master is '$(masters)', expected $M"
	t=$(now_ms)
	if [ "$kind" = powercut ]; then lab_power_cut "$M"; else stop_keepalived "$M"; fi
	lab_log "run $i: $kind of $M"
	wait_until "$RECOVER_TIMEOUT" ipsec_recovered "$O" "$t" \
		|| fail_now "run $i ($kind of $M): the tunnel carried no traffic $RECOVER_TIMEOUT s after the fault (masters: '$(masters)', charon on $(running_str); $O's charon log: $(tail -n 5 "$(root_of "$O")/var/log/charon.log" | tr '\n' ' '))"
	[ "$(masters)" = "$O" ] || fail_now "run $i: after the $kind of $M the master is '$(masters)', expected $O"
	wait_until 5 only_on "$O" || fail_now "run $i: charon on $(running_str), expected on $O only"
	t_back=$(now_ms)
	# the old master returns (boots / keepalived starts) and settles as BACKUP without charon
	t_ret=$(now_ms)
	if [ "$kind" = powercut ]; then lab_power_on "$M"; else start_keepalived "$M"; fi
	wait_until 15 backup_hook_done "$M" "$t_ret" || fail_now "run $i: $M did not come back as BACKUP"
	wait_until 5 not_on "$M" || fail_now "run $i: the returned BACKUP $M runs charon"
	tcp_back=1
	wait_until 15 flow_fresh tcp "$t" || { tcp_back=0; lab_log "run $i: no TCP reply 15 s after the tunnel was back (retransmission backoff)"; }
	wait_until 5 flow_fresh udp "$t_back" || fail_now "run $i: the tunnel flow stopped after $M returned"
	sleep 0.3
	gap_u=$(flow_gap_after ipsecudp udp "$t")
	gap_t=-; [ "$tcp_back" = 1 ] && gap_t=$(flow_gap_after ipsec tcp "$t")
	cs=$(log_ms_after "$(root_of "$O")/var/log/charon.log" "$t" "CHILD_SA lan.* established")
	hl=$(hook_line_after "$O" MASTER "$t")
	echo "$kind $M $O ${gap_u:-0} ${gap_t:-0} $(rel "$cs") $(rel "${hl%% *}")" >>"$RESULTS"
	lab_log "run $i: $(tail -n 1 "$RESULTS")"
	M=$O
	sleep 1
done
flow_stop ipsec
flow_stop ipsecudp
report
echo "ipsec.sh: $i fault(s), tunnel back after each; total $(($(now_ms) - T_RUN)) ms"
exit 0
