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
# shellcheck disable=SC2034 # read by svcsuite.sh
SUITE=ipsec.sh SVC=ipsec FLOW=ipsec
# shellcheck disable=SC1091 # the lab library and the service suites' shared half, beside this file
. "$HERE/lib.sh"
# shellcheck disable=SC1091
. "$HERE/svcsuite.sh"
[ "$(id -u)" = 0 ] || skip_or_fail "needs root (network namespaces)"
[ "$HOOK" = muros ] || skip_or_fail "needs HOOK=muros (the seed hook starts only dnsmasq, odhcpd, miniupnpd)"
[ -x "$CHARON" ] || skip_or_fail "no $CHARON (Debian package strongswan-charon)"
command -v swanctl >/dev/null || skip_or_fail "no swanctl (Debian package strongswan-swanctl)"
[ -r "$LIBIPSEC_SO" ] || skip_or_fail "no kernel-libipsec plugin $LIBIPSEC_SO (Debian package libcharon-extra-plugins)"
[ -c /dev/net/tun ] || skip_or_fail "no /dev/net/tun on this host"
command -v unshare >/dev/null || skip_or_fail "no unshare (util-linux)"
faults_ok IPSEC_FAULTS "$IPSEC_FAULTS"
if ! [[ $RECOVER_TIMEOUT =~ ^[0-9]+$ ]] || [ "$RECOVER_TIMEOUT" -lt 5 ]; then echo "ipsec.sh: RECOVER_TIMEOUT is a number >= 5" >&2; exit 2; fi
# a throwaway pre-shared key for this run
PSK=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')

# ---------------------------------------------------------------- the lab, extended
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
	svc_orig_write_misc "$@" || return
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
	svc_orig_write_firewall "$@" || return
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

# the tunnel is back through router R: its CHILD_SA came up after T0 ms and replies
# arrived after that (a reply in flight at the fault does not count)
recovered() {
	local cs; cs=$(log_ms_after "$(root_of "$1")/var/log/charon.log" "$2" "CHILD_SA lan.* established")
	[ -n "$cs" ] && flow_fresh udp "$cs"
}
child_up_after() { [ -n "$(log_ms_after "$(root_of "$1")/var/log/charon.log" "$2" "CHILD_SA lan.* established")" ]; }

# one run's own columns: child_sa_up takeover
row_extra() {
	local o=$2 t0=$3 cs hl
	cs=$(log_ms_after "$(root_of "$o")/var/log/charon.log" "$t0" "CHILD_SA lan.* established")
	hl=$(hook_line_after "$o" MASTER "$t0")
	echo "$(rel "$cs") $(rel "${hl%% *}")"
}

report() {
	if [ -z "$RESULTS" ] || [ ! -s "$RESULTS" ]; then echo "ipsec.sh: no run finished"; return 0; fi
	python3 - "$RESULTS" <<'PY'
import os, sys
rows = [l.split() for l in open(sys.argv[1]).read().split("\n") if l.strip()]
# kind from to udp_gap tcp_gap child_ms takeover_ms
names = {"powercut": "power cut", "stop": "graceful stop"}
print()
print("IPsec site-to-site (IKEv2 PSK, strongSwan kernel-libipsec) cl -> 198.19.79.1 via the master; VRRPv%s advert %ss, NAT=%s"
      % (os.environ.get("VRRP_VERSION", "2"), os.environ.get("ADVERT", "1"), os.environ.get("NAT", "snat")))
print("ms after the fault; CHILD_SA = the new master's 'CHILD_SA lan{n} established'; takeover = its MASTER hook start")
print("%-3s %-13s %-7s %8s %8s %9s %9s" % ("#", "fault", "master", "UDP gap", "TCP gap", "CHILD_SA", "takeover"))
for i, r in enumerate(rows, 1):
    print("%-3d %-13s %-7s %8s %8s %9s %9s" % (i, names.get(r[0], r[0]), r[1] + ">" + r[2], r[3], r[4], r[5], r[6]))
PY
	summary "tunnel UDP gap ms:3" "tunnel TCP gap ms:4" "CHILD_SA up ms:5" "takeover (hook) ms:6"
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
wait_until 10 only_on "$M" || fail_now "charon runs on $(svc_where), expected on the master $M only (see $(root_of "$M")/var/log/ipsec.log)"
wait_until 15 child_up_after "$M" 0 || fail_now "no CHILD_SA on $M: $(tail -n 8 "$(root_of "$M")/var/log/charon.log" | tr '\n' ' ')"
[ -n "$(client_addr)" ] || fail_now "the LAN client has no address"
tunnel_flow_start "$NS_CL" "$NS_SRV" "$FAR_ADDR" || fail_now "the tunnel flow did not start (see $LAB_DIR/flow-ipsec.log)"
wait_until 5 flow_fresh udp 0 || fail_now "no UDP replies through the tunnel"
wait_until 5 flow_fresh tcp 0 || fail_now "no TCP replies through the tunnel"
lab_log "tunnel flow cl ($(client_addr)) -> $FAR_ADDR via $M running; setup took $(($(now_ms) - T_RUN)) ms"
sleep 1

run_faults "$IPSEC_FAULTS"
report
# shellcheck disable=SC2154 # i: the runs svcsuite.sh's run_faults made
echo "ipsec.sh: $i fault(s), tunnel back after each; total $(($(now_ms) - T_RUN)) ms"
exit 0
