# shellcheck shell=bash
# The muros-ha two-router HA lab in network namespaces. Source it from bash:
#
#   . tests/lab/lib.sh
#   lab_init            # names, dirs, EXIT trap (teardown also on failure)
#   lab_up              # build topology, write configs, start every daemon
#   lab_wait_master ra 10 && lab_wait_wan ra 10
#   ...
#   (teardown runs from the trap)
#
# Knobs (environment):
#   HOOK=seed|muros          which notify hook keepalived runs (default seed)
#   MUROS_HA=PATH            muros-ha binary for HOOK=muros (default target/debug/muros-ha)
#   CONFIGS=lab|render       who writes keepalived.conf/conntrackd.conf: this file's
#                            templates, or `muros-ha render --root <router>` (default lab)
#   VRRP_VERSION=2|3  ADVERT=1|0.1   PREEMPT=1|0
#   CONNTRACKD=1|0           run conntrackd (0 = show what breaks without it)
#   NAT=snat|masquerade      WAN NAT: SNAT to the lease (default) or fw4-style masquerade
#   LAB_KEEP=1               keep /tmp/muros-lab-PID after teardown (logs)
#   WG=1                     a WireGuard site-to-site tunnel wg0 to a peer in srv that
#                            follows the master (`list vpn 'wg0'`; lab_vpn_up)
#
# Topology (LAB-NOTES): isp = DHCP server (dnsmasq --no-ping) on a bridge + route to
# srv; ra/rb = routers, each with wanp (veth to the isp bridge) carrying a macvlan
# `wan` (mode private, SAME MAC on both; only the master has it up), lan0 into the
# lan bridge namespace, sync0 = direct veth ra<->rb; cl = client, which takes address,
# gateway and DNS by DHCP (busybox udhcpc) from the master's dnsmasq.

LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO=$(cd "$LAB_HERE/../.." && pwd)
# shared/ sits beside the checkout (CI and /work/main); MUROS_SHARED overrides.
LAB_SHARED=${MUROS_SHARED:-$(cd "$LAB_REPO/.." && pwd)/shared}
OWRT_TOOLS=${OWRT_TOOLS:-$LAB_SHARED/openwrt-tools}
OWRT_WEB=${OWRT_WEB:-$LAB_SHARED/openwrt-web}
UCODE=${UCODE:-$OWRT_WEB/rootfs/bin/ucode}
UCODE_LIB=${UCODE_LIB:-$OWRT_WEB/rootfs/usr/lib/ucode}
UBUSD=${UBUSD:-$OWRT_TOOLS/bin/ubusd}
UBUS=${UBUS:-$OWRT_TOOLS/bin/ubus}
UCI=${UCI:-$OWRT_TOOLS/bin/uci}
export UBUS

HOOK=${HOOK:-seed}
CONFIGS=${CONFIGS:-lab}
MUROS_HA=${MUROS_HA:-$LAB_REPO/target/debug/muros-ha}
VRRP_VERSION=${VRRP_VERSION:-2}
ADVERT=${ADVERT:-1}
PREEMPT=${PREEMPT:-1}
CONNTRACKD=${CONNTRACKD:-1}
# snat: the DHCP hook SNATs to the leased address (a lab-side cure for pitfall 1);
# masquerade: as OpenWrt's fw4 does, so the product's own cure (conntrackd's internal
# cache flushed before the WAN goes down) is what keeps the flows.
NAT=${NAT:-snat}
# LEASE_CACHE=1 (HOOK=muros): the WAN's proto is muros-ha's muros_dhcp, which starts a
# takeover from the cached lease (issue 16); 0: plain DHCP, as with the seed hook.
LEASE_CACHE=${LEASE_CACHE:-1}

# Addresses: documentation/benchmark ranges only.
ISP_GW=198.51.100.1
ISP_RANGE=198.51.100.10,198.51.100.50,255.255.255.0,10m
# The range the ISP renumbers to (lab_isp_renumber; issue 16's changed lease).
ISP_RANGE2=198.51.100.70,198.51.100.90,255.255.255.0,10m
SRV_NET_GW=203.0.113.1
SRV_IP=203.0.113.10
LAN_VIP=192.0.2.1
LAN_PREFIX=24
WAN_MAC=02:00:5e:10:00:01
# WAN_MODE=dhcp: the shared-MAC macvlan DHCP WAN (muros-ha's default macvlan name for
# logical `wan`: DSA boards already own `wan`). WAN_MODE=static (issue 17 §2, seed
# 001's main case): each router has its own address on the ISP's segment, the WAN VIP
# moves with the master (keepalived), NAT to the VIP.
WAN_MODE=${WAN_MODE:-dhcp}
WAN_DEV=ha-wan
WAN_VIP=198.51.100.60
declare -A R_WAN=([ra]=198.51.100.2 [rb]=198.51.100.3)
[ "$WAN_MODE" = static ] && WAN_DEV=wanp
VRID=10
# OpenWrt's default: no renewal (T1 = 6 h) can happen during a lab run, so a client
# that survives a failover did it with the lease it had
LAN_LEASETIME=12h
LAB_DNS_NAME=srv.lab.test
SYNC_PORT=3780
declare -A R_LAN=([ra]=192.0.2.2 [rb]=192.0.2.3)
declare -A R_SYNC=([ra]=198.18.0.1 [rb]=198.18.0.2)
declare -A R_PEER=([ra]=198.18.0.2 [rb]=198.18.0.1)
declare -A R_ROLE=([ra]=master [rb]=backup)
declare -A R_PASS=([ra]=s3cret [rb]=s3cret)
# IPV6=1 (case 12): an IPv6 LAN with a VRRPv3 IPv6 VIP, router advertisements from the
# master only (the odhcpd stand-in runs radvd) and a SLAAC client. 2001:db8::/32 is the
# IPv6 documentation range; it never leaves the lab's namespaces.
IPV6=${IPV6:-0}
# HEALTH=1: an upstream health check (issue 17) probing the internet server by ICMP
# every second, down after 3 losses, up after 2 answers.
HEALTH=${HEALTH:-0}
LAN6_VIP=2001:db8:10::1
declare -A R_LAN6=([ra]=2001:db8:10::2 [rb]=2001:db8:10::3)
# on both routers' loopback: what the client reaches through its IPv6 default route
V6_REMOTE=2001:db8:ff::1
# WG=1: a WireGuard tunnel wg0 from the master to a remote site in srv (wireguard-go,
# the userspace implementation: no kernel module needed). Both routers carry the SAME
# private key and listen port: the shared-MAC WAN keeps the public address, so the far
# side sees the same endpoint after a failover and needs no change. Tunnel addresses
# from 198.19.0.0/16 (benchmark range); srv routes the LAN into its tunnel.
WG=${WG:-0}
WG_IFACE=wg0
WG_PORT=51820
WG_NET=198.19.77.0/24
WG_ROUTER_ADDR=198.19.77.1
WG_SRV_ADDR=198.19.77.2
# a real site-to-site setting on both sides: NAT/stateful-firewall keepalive every 25 s
WG_KEEPALIVE=${WG_KEEPALIVE:-25}
# WG_HOLD=1: a blackhole route for the far side's network (metric 1000) on both
# routers, under the tunnel's own route: before wg0 is up, LAN packets to the far side
# are dropped instead of leaking to the WAN (where NAT would bind them; see the README)
WG_HOLD=${WG_HOLD:-1}
WIREGUARD_GO=${WIREGUARD_GO:-$(command -v wireguard-go)}
WG_TOOL=${WG_TOOL:-$(command -v wg)}

lab_log() { printf '%s %s\n' "$(date +%T.%3N)" "$*" >&2; }
lab_die() { lab_log "FATAL: $*"; exit 1; }

lab_init() {
	[ "$(id -u)" = 0 ] || lab_die "the lab needs root (network namespaces)"
	LAB_ID=${LAB_ID:-$$}
	LAB_DIR=/tmp/muros-lab-$LAB_ID
	NS_PREFIX=ml$LAB_ID
	NS_ISP=$NS_PREFIX-isp NS_SRV=$NS_PREFIX-srv NS_LAN=$NS_PREFIX-lan NS_CL=$NS_PREFIX-cl
	# a foreign VRRP router on the same LAN (lab_foreign_vrrp), made only when a case asks
	NS_FX=$NS_PREFIX-fx
	declare -gA NS=([ra]=$NS_PREFIX-ra [rb]=$NS_PREFIX-rb)
	LAB_PIDS=()
	mkdir -p "$LAB_DIR"
	trap lab_down EXIT
	trap 'exit 130' INT TERM
}

# ---------------------------------------------------------------- teardown
lab_down() {
	local rc=$? ns p r
	trap - EXIT
	[ -n "${LAB_DIR:-}" ] || return $rc
	# procd stand-ins first, so nothing is respawned while we stop it
	for r in ra rb; do touch "$LAB_DIR/$r/var/run/keepalived.nosupervise" 2>/dev/null; done
	for p in "${LAB_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	# Freeze before killing, and sweep until empty: a hook that is running (keepalived
	# notifies on its way down) may start conntrackd or dnsmasq after a single sweep,
	# and a daemon left in a deleted netns lives on unseen.
	local i pids
	for ns in "${NS[ra]}" "${NS[rb]}" "$NS_ISP" "$NS_SRV" "$NS_LAN" "$NS_CL" "$NS_FX"; do
		ip netns pids "$ns" >/dev/null 2>&1 || continue
		for i in 1 2 3 4 5 6 7 8; do
			pids=$(ip netns pids "$ns" 2>/dev/null)
			[ -n "$pids" ] || break
			kill -STOP $pids 2>/dev/null
			kill -9 $pids 2>/dev/null
			sleep 0.05
		done
	done
	for ns in "${NS[ra]}" "${NS[rb]}" "$NS_ISP" "$NS_SRV" "$NS_LAN" "$NS_CL" "$NS_FX"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ "${LAB_KEEP:-0}" = 1 ]; then
		lab_log "lab files kept in $LAB_DIR"
	else
		rm -rf "$LAB_DIR"
	fi
	return $rc
}

# ---------------------------------------------------------------- helpers
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
rx() { local r=$1; shift; ip netns exec "${NS[$r]}" "$@"; }
root_of() { echo "$LAB_DIR/$1"; }
other() { [ "$1" = ra ] && echo rb || echo ra; }

# wait_until TIMEOUT_S CMD...: poll every 20 ms until CMD succeeds; bounded by wall
# time (EPOCHREALTIME, no fork) and by an iteration cap.
wait_until() {
	local t=$1 i=0 end; shift
	end=$(awk -v n="$(now_ms)" -v t="$t" 'BEGIN{printf "%.0f", n+t*1000}')
	while [ $i -lt 100000 ]; do
		"$@" && return 0
		[ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.02; i=$((i+1))
	done
	return 1
}
now_ms() { local t=${EPOCHREALTIME/,/.}; t=${t/./}; echo "${t:0:13}"; }

# A router whose link is dead (power cut, cable pulled) still has its addresses in the
# kernel; it only counts when the link is operationally up.
link_up() { ip -n "${NS[$1]}" -o link show dev "$2" 2>/dev/null | grep -q "state UP"; }
has_vip() { link_up "$1" lan0 && ip -n "${NS[$1]}" -4 -o addr show dev lan0 2>/dev/null | grep -q " $LAN_VIP/"; }
wan_addr() {
	link_up "$1" "$WAN_DEV" || return 0
	if [ "$WAN_MODE" = static ]; then
		# the router's own address is always there; the WAN is "up" where the VIP is
		ip -n "${NS[$1]}" -4 -o addr show dev "$WAN_DEV" 2>/dev/null | grep -q " $WAN_VIP/" && echo "$WAN_VIP"
		return 0
	fi
	ip -n "${NS[$1]}" -4 -o addr show dev "$WAN_DEV" 2>/dev/null | awk '{split($4,a,"/"); print a[1]; exit}'
}
wan_up() { [ -n "$(wan_addr "$1")" ]; }
masters() { local r out=""; for r in ra rb; do has_vip "$r" && out="$out $r"; done; echo "${out# }"; }
master_count() { local m; m=$(masters); set -- $m; echo $#; }
lab_wait_master() { wait_until "${2:-10}" has_vip "$1"; }
lab_wait_wan() { wait_until "${2:-10}" wan_up "$1"; }
service_running() { rx "$1" "$(root_of "$1")/etc/init.d/$2" running; }
services_on() {
	local r=$1 s out=""
	for s in dnsmasq odhcpd miniupnpd; do service_running "$r" "$s" && out="$out $s"; done
	echo "${out# }"
}
# The last line keepalived's hook wrapper logged for STATE on router R, after T0 ms.
hook_line_after() {
	local r=$1 state=$2 t0=$3
	awk -v s="$state" -v t="$t0" '$6==s && $1>=t {print; exit}' "$(root_of "$r")/var/log/hooks.log" 2>/dev/null
}
# epoch ms at which udhcpc bound a lease on router R after T0 ms
wan_bound_after() {
	local r=$1 t0=$2
	awk -v t="$t0" '$2=="udhcpc" && ($3=="bound"||$3=="renew") {ms=$1*1000; if (ms>=t) {printf "%.0f\n", ms; exit}}' \
		"$(root_of "$r")/var/log/netifd-wan.log" 2>/dev/null
}

# ---------------------------------------------------------------- topology
lab_topology() {
	local ns r
	for ns in "$NS_ISP" "$NS_SRV" "${NS[ra]}" "${NS[rb]}" "$NS_LAN" "$NS_CL"; do
		ip netns add "$ns" || lab_die "ip netns add $ns"
		ip -n "$ns" link set lo up
	done
	# ISP: bridge + DHCP, and a routed link to the "internet" server
	ip -n "$NS_ISP" link add br0 type bridge
	ip -n "$NS_ISP" addr add "$ISP_GW/24" dev br0
	ip -n "$NS_ISP" link set br0 up
	ip -n "$NS_ISP" link add srv0 type veth peer name eth0 netns "$NS_SRV"
	ip -n "$NS_ISP" addr add "$SRV_NET_GW/24" dev srv0
	ip -n "$NS_ISP" link set srv0 up
	ip -n "$NS_SRV" addr add "$SRV_IP/24" dev eth0
	ip -n "$NS_SRV" link set eth0 up
	ip -n "$NS_SRV" route add default via "$SRV_NET_GW"
	in_ns "$NS_ISP" sysctl -qw net.ipv4.ip_forward=1
	# LAN: a bridge namespace and the client
	ip -n "$NS_LAN" link add br0 type bridge
	ip -n "$NS_LAN" link set br0 up
	ip -n "$NS_LAN" link add lc type veth peer name eth0 netns "$NS_CL"
	ip -n "$NS_LAN" link set lc master br0 up
	# no address, no route: the client takes them by DHCP (start_client)
	ip -n "$NS_CL" link set eth0 up
	# routers
	for r in ra rb; do
		local port=w${r#r} lport=l${r#r}
		ip -n "$NS_ISP" link add "$port" type veth peer name wanp netns "${NS[$r]}"
		ip -n "$NS_ISP" link set "$port" master br0 up
		ip -n "$NS_LAN" link add "$lport" type veth peer name lan0 netns "${NS[$r]}"
		ip -n "$NS_LAN" link set "$lport" master br0 up
		ip -n "${NS[$r]}" link set wanp up
		if [ "$WAN_MODE" = static ]; then
			ip -n "${NS[$r]}" addr add "${R_WAN[$r]}/24" dev wanp
		else
			ip -n "${NS[$r]}" link add link wanp name "$WAN_DEV" address "$WAN_MAC" type macvlan mode private
		fi
		ip -n "${NS[$r]}" addr add "${R_LAN[$r]}/$LAN_PREFIX" dev lan0
		ip -n "${NS[$r]}" link set lan0 up
		rx "$r" sysctl -qw net.ipv4.ip_forward=1
		# pitfall 2: the parent must not answer ARP for the macvlan's address
		rx "$r" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
		rx "$r" sysctl -qw net.ipv4.conf.wanp.arp_ignore=1 net.ipv4.conf.wanp.arp_announce=2
		if [ "$IPV6" = 1 ]; then
			ip -n "${NS[$r]}" -6 addr add "${R_LAN6[$r]}/64" dev lan0 nodad
			ip -n "${NS[$r]}" -6 addr add "$V6_REMOTE/128" dev lo
			rx "$r" sysctl -qw net.ipv6.conf.all.forwarding=1
		fi
	done
	if [ "$IPV6" = 1 ]; then
		# a laptop: SLAAC address and default route from router advertisements
		in_ns "$NS_CL" sysctl -qw net.ipv6.conf.eth0.accept_ra=1 net.ipv6.conf.eth0.autoconf=1
	fi
	if [ "$WG" = 1 ] && [ "$WG_HOLD" = 1 ]; then
		for r in ra rb; do ip -n "${NS[$r]}" route add blackhole "$WG_NET" metric 1000; done
	fi
	ip -n "${NS[ra]}" link add sync0 type veth peer name sync0 netns "${NS[rb]}"
	for r in ra rb; do
		ip -n "${NS[$r]}" addr add "${R_SYNC[$r]}/30" dev sync0
		ip -n "${NS[$r]}" link set sync0 up
	done
}

# ---------------------------------------------------------------- router files
write_uci() {
	local r=$1 root; root=$(root_of "$r")
	mkdir -p "$root/etc/config"
	cat >"$root/etc/config/muros_ha" <<EOC
config global 'global'
	option enabled '1'
	option role '${R_ROLE[$r]}'
	option password '${R_PASS[$r]}'
	option auth_type '$([ "$VRRP_VERSION" = 2 ] && echo pass || echo none)'
	option vrrp_version '$VRRP_VERSION'
	option advert_int '$ADVERT'
	option preempt '$PREEMPT'
$([ "${PREEMPT_DELAY:-0}" != 0 ] && printf "\toption preempt_delay '%s'\n" "$PREEMPT_DELAY")
	option sync_interface 'sync'
	option sync_mode 'multicast'
	option sync_port '$SYNC_PORT'
	option peer_ip '${R_PEER[$r]}'
	list service 'dnsmasq'
	list service 'odhcpd'
	list service 'miniupnpd'
$([ "$WG" = 1 ] && printf "\tlist vpn '%s'\n" "$WG_IFACE")

config vip 'lan'
	option interface 'lan'
	option address '$LAN_VIP/$LAN_PREFIX'
	option vrid '$VRID'

$(if [ "$WAN_MODE" = static ]; then
	printf "config wan 'wan'\n\toption proto 'static'\n\toption interface 'wan'\n\toption ipaddr '%s/24'\n\toption gateway '%s'\n\toption vrid '%s'\n" "$WAN_VIP" "$ISP_GW" "$((VRID + 5))"
else
	printf "config wan 'wan'\n\toption interface 'wan'\n\toption parent 'wanp'\n\toption macaddr '%s'\n" "$WAN_MAC"
fi)
EOC
	if [ "$HEALTH" = 1 ]; then
		printf "\nconfig health 'upstream'\n\tlist target '%s'\n\toption method 'icmp'\n\toption interval '1'\n\toption fall '3'\n\toption rise '2'\n" \
			"$SRV_IP" >>"$root/etc/config/muros_ha"
	fi
	if [ "$IPV6" = 1 ]; then
		printf "\nconfig vip 'lan6'\n\toption interface 'lan'\n\toption address '%s/64'\n\toption vrid '%s'\n" \
			"$LAN6_VIP" "$((VRID + 2))" >>"$root/etc/config/muros_ha"
		# what odhcpd would announce; the stand-in runs radvd with it (initd/odhcpd)
		cat >"$root/etc/lab-radvd.conf" <<EOC
interface lan0 {
	AdvSendAdvert on;
	MinRtrAdvInterval 3;
	MaxRtrAdvInterval 10;
	AdvDefaultLifetime 30;
	prefix 2001:db8:10::/64 {
		AdvOnLink on;
		AdvAutonomous on;
	};
};
EOC
		chmod 644 "$root/etc/lab-radvd.conf"
	fi
	chmod 600 "$root/etc/config/muros_ha"
	cat >"$root/etc/config/network" <<EOC
config interface 'loopback'
	option device 'lo'
	option proto 'static'
	option ipaddr '127.0.0.1'
	option netmask '255.0.0.0'

config interface 'lan'
	option device 'lan0'
	option proto 'static'
	option ipaddr '${R_LAN[$r]}'
	option netmask '255.255.255.0'
$([ "$IPV6" = 1 ] && printf "\toption ip6addr '%s/64'\n" "${R_LAN6[$r]}")

config interface 'sync'
	option device 'sync0'
	option proto 'static'
	option ipaddr '${R_SYNC[$r]}'
	option netmask '255.255.255.252'

$(if [ "$WAN_MODE" = static ]; then
	printf "config interface 'wan'\n\toption device 'wanp'\n\toption proto 'static'\n\toption ipaddr '%s/24'\n" "${R_WAN[$r]}"
else
	printf "config device 'muros_ha_wan'\n\toption type 'macvlan'\n\toption name '%s'\n\toption ifname 'wanp'\n\toption macaddr '%s'\n\toption mode 'private'\n\nconfig interface 'wan'\n\toption device '%s'\n\toption proto 'dhcp'\n\toption auto '0'\n" "$WAN_DEV" "$WAN_MAC" "$WAN_DEV"
fi)
EOC
	# it holds the tunnel's private key: 0600, as muros-ha writes it when it replicates
	[ "$WG" = 1 ] && write_wg_uci "$r" && chmod 600 "$root/etc/config/network"
	cat >"$root/etc/config/system" <<EOC
config system
	option hostname 'lab-$r'
	option timezone 'UTC'
EOC
}

# ---------------------------------------------------------------- WireGuard (WG=1)
# The keys, made once per lab: the routers share one private key (same public key and
# endpoint for the far side), srv has its own.
wg_keys() {
	local d=$LAB_DIR/wg
	[ -s "$d/router.pub" ] && [ -s "$d/srv.pub" ] && return 0
	mkdir -p "$d" && chmod 700 "$d"
	(umask 077; "$WG_TOOL" genkey >"$d/router.key" && "$WG_TOOL" genkey >"$d/srv.key") || lab_die "wg genkey"
	if ! { "$WG_TOOL" pubkey <"$d/router.key" >"$d/router.pub" && "$WG_TOOL" pubkey <"$d/srv.key" >"$d/srv.pub"; }; then
		lab_die "wg pubkey"
	fi
}
# wg0 in router R's /etc/config/network, as OpenWrt's proto wireguard reads it
write_wg_uci() {
	local r=$1 root; root=$(root_of "$r")
	wg_keys
	cat >>"$root/etc/config/network" <<EOC

config interface '$WG_IFACE'
	option proto 'wireguard'
	option private_key '$(cat "$LAB_DIR/wg/router.key")'
	option listen_port '$WG_PORT'
	list addresses '$WG_ROUTER_ADDR/24'
	option auto '0'

config wireguard_$WG_IFACE 'remote_site'
	option description 'srv (remote site)'
	option public_key '$(cat "$LAB_DIR/wg/srv.pub")'
	option endpoint_host '$SRV_IP'
	option endpoint_port '$WG_PORT'
	option persistent_keepalive '$WG_KEEPALIVE'
	option route_allowed_ips '1'
	list allowed_ips '$WG_NET'
EOC
}
wg_tools_present() { [ -x "${WIREGUARD_GO:-}" ] && [ -x "${WG_TOOL:-}" ] && command -v unshare >/dev/null; }
# wg_in NS RUNDIR ARGS...: the real `wg` in namespace NS, finding the wireguard-go whose
# /var/run is RUNDIR (with-run.sh)
wg_in() { local ns=$1 run=$2; shift 2; ip netns exec "$ns" "$LAB_HERE/with-run.sh" "$run" "$WG_TOOL" "$@"; }
# router R has the tunnel device, raised, with its address
wg_dev_up() {
	ip -n "${NS[$1]}" -o addr show dev "$WG_IFACE" 2>/dev/null | grep -q " $WG_ROUTER_ADDR/" \
		&& ip -n "${NS[$1]}" -o link show dev "$WG_IFACE" 2>/dev/null | grep -q '[<,]UP[,>]'
}
wg_dev_absent() { ! ip -n "${NS[$1]}" link show dev "$WG_IFACE" >/dev/null 2>&1; }
# netifd's view (the stand-in): status.up of network.interface.wg0 on router R
wg_status_up() {
	rx "$1" "$UBUS" -s "$(root_of "$1")/var/run/ubus/ubus.sock" -t 2 call "network.interface.$WG_IFACE" status 2>/dev/null \
		| python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("up") else 1)' 2>/dev/null
}
wg_up_on() { wg_dev_up "$1" && wg_status_up "$1"; }
# srv's tunnel answers: a handshake within the last 2 minutes (wg's own clock)
wg_srv_handshake_age() {
	local t; t=$(wg_in "$NS_SRV" "$LAB_DIR/srv/run" show "$WG_IFACE" latest-handshakes 2>/dev/null | awk '{print $2; exit}')
	if [ -z "$t" ] || [ "$t" = 0 ]; then echo never; else echo $(( $(date +%s) - t )); fi
}
wg_srv_endpoint() { wg_in "$NS_SRV" "$LAB_DIR/srv/run" show "$WG_IFACE" endpoints 2>/dev/null | awk '{print $2; exit}'; }
wg_srv_handshaked() { local a; a=$(wg_srv_handshake_age); [ "$a" != never ] && [ "$a" -lt 120 ]; }
# lab_vpn_up WAN_ADDR: the remote site in srv, whose endpoint for the routers is the
# shared WAN's address WAN_ADDR: wireguard-go + wg (its own /var/run), the tunnel
# address, the LAN routed into the tunnel, and a flowtool server on the tunnel address.
# Waits (bounded) for the first handshake with the master.
lab_vpn_up() {
	local wan=$1 d=$LAB_DIR/srv
	mkdir -p "$d/run"
	wg_keys
	ip netns exec "$NS_SRV" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error "$LAB_HERE/with-run.sh" "$d/run" \
		"$WIREGUARD_GO" "$WG_IFACE" </dev/null >>"$d/wireguard-go.log" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	wait_until 5 test -S "$d/run/wireguard/$WG_IFACE.sock" || { lab_log "srv: wireguard-go did not start"; return 1; }
	wg_in "$NS_SRV" "$d/run" set "$WG_IFACE" listen-port "$WG_PORT" private-key "$LAB_DIR/wg/srv.key" \
		peer "$(cat "$LAB_DIR/wg/router.pub")" endpoint "$wan:$WG_PORT" persistent-keepalive "$WG_KEEPALIVE" \
		allowed-ips "$WG_ROUTER_ADDR/32,192.0.2.0/24" || { lab_log "srv: wg set failed"; return 1; }
	ip -n "$NS_SRV" addr add "$WG_SRV_ADDR/24" dev "$WG_IFACE" || return 1
	ip -n "$NS_SRV" link set "$WG_IFACE" up || return 1
	ip -n "$NS_SRV" route add 192.0.2.0/24 dev "$WG_IFACE" || return 1
	in_ns "$NS_SRV" python3 "$LAB_HERE/flowtool.py" server --bind "$WG_SRV_ADDR" \
		>"$d/flowtool-server.log" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	wait_until 15 wg_srv_handshaked || { lab_log "srv: no handshake with the master in 15 s"; return 1; }
}

# OpenWrt's stock /etc/config/dhcp (lan served, wan ignored), which `muros-ha render`
# edits (the VIP as gateway and DNS, force). With the lab's own templates
# (CONFIGS=lab) the admin has set those three lines by hand, as seed 001 prescribes,
# so both hooks are compared with clients that follow the VIP. One DNS record lets
# the lab check that the DNS server DHCP gave answers.
write_dhcp_uci() {
	local r=$1 root vip_lines=""; root=$(root_of "$r")
	if [ "$CONFIGS" != render ]; then
		vip_lines="	list dhcp_option '3,$LAN_VIP'
	list dhcp_option '6,$LAN_VIP'
	option force '1'"
	fi
	cat >"$root/etc/config/dhcp" <<EOC
config dnsmasq
	option domainneeded '1'
	option boguspriv '1'
	option localise_queries '1'
	option rebind_protection '1'
	option rebind_localhost '1'
	option local '/lan/'
	option domain 'lan'
	option expandhosts '1'
	option cachesize '1000'
	option authoritative '1'
	option readethers '1'
	option leasefile '/tmp/dhcp.leases'
	option resolvfile '/tmp/resolv.conf.d/resolv.conf.auto'
	option localservice '1'
	option ednspacket_max '1232'
	list address '/$LAB_DNS_NAME/$SRV_IP'

config dhcp 'lan'
	option interface 'lan'
	option start '100'
	option limit '150'
	option leasetime '$LAN_LEASETIME'
	option dhcpv4 'server'
	option dhcpv6 'server'
	option ra 'server'
	option ra_slaac '1'
	list ra_flags 'managed-config'
	list ra_flags 'other-config'
$vip_lines

config dhcp 'wan'
	option interface 'wan'
	option ignore '1'

config odhcpd 'odhcpd'
	option maindhcp '0'
	option leasefile '/tmp/hosts/odhcpd'
	option leasetrigger '/usr/sbin/odhcpd-update'
	option loglevel '4'
EOC
}

write_keepalived_conf() {
	local r=$1 root prio state auth=""
	root=$(root_of "$r")
	prio=$([ "${R_ROLE[$r]}" = master ] && echo 150 || echo 100)
	# The master may start as MASTER (faster boot); nopreempt needs state BACKUP.
	state=$([ "${R_ROLE[$r]}" = master ] && [ "$PREEMPT" = 1 ] && echo MASTER || echo BACKUP)
	if [ "$VRRP_VERSION" = 2 ]; then
		auth="    authentication {
        auth_type PASS
        auth_pass ${R_PASS[$r]}
    }"
	fi
	mkdir -p "$root/etc/keepalived"
	install -m 600 /dev/null "$root/etc/keepalived/keepalived.conf"
	cat >"$root/etc/keepalived/keepalived.conf" <<EOC
! lab template; the product renders this from /etc/config/muros_ha
global_defs {
    router_id lab-$r
    enable_script_security
    script_user root
    vrrp_version $VRRP_VERSION
    vrrp_garp_master_delay 1
    vrrp_garp_master_repeat 2
}

vrrp_instance lan {
    state $state
    interface lan0
    virtual_router_id $VRID
    priority $prio
    advert_int $ADVERT
$auth
    virtual_ipaddress {
        $LAN_VIP/$LAN_PREFIX dev lan0
    }
    track_interface {
        wanp
    }
    # re-announce the VIP while master: after a split brain ends (pitfall 3) clients
    # that followed the other router's ARP come back within this many seconds
    garp_master_refresh 5
$([ "$PREEMPT" = 1 ] || echo "    nopreempt")
    notify "$LAB_HERE/lab-hook.sh notify --root $root"
}
EOC
}

write_conntrackd_conf() {
	local r=$1 root; root=$(root_of "$r")
	mkdir -p "$root/etc/conntrackd"
	cat >"$root/etc/conntrackd/conntrackd.conf" <<EOC
# lab template; the product renders this from /etc/config/muros_ha
Sync {
    Mode FTFW {
        DisableExternalCache Off
        CommitTimeout 1800
        PurgeTimeout 5
    }
    Multicast {
        IPv4_address 225.0.0.50
        Group $SYNC_PORT
        IPv4_interface ${R_SYNC[$r]}
        Interface sync0
        SndSocketBuffer 1249280
        RcvSocketBuffer 1249280
        Checksum on
    }
}
General {
    Systemd off
    HashSize 8192
    HashLimit 65536
    LogFile $root/var/log/conntrackd.log
    Syslog off
    LockFile $root/var/lock/conntrackd.lock
    UNIX {
        Path $root/var/run/conntrackd.ctl
    }
    NetlinkBufferSize 2097152
    NetlinkBufferSizeMaxGrowth 8388608
    Filter From Userspace {
        Protocol Accept {
            TCP
            UDP
            ICMP
        }
        Address Ignore {
            IPv4_address 127.0.0.1
            IPv4_address $LAN_VIP
            IPv4_address ${R_LAN[ra]}
            IPv4_address ${R_LAN[rb]}
            IPv4_address 198.18.0.0/30
        }
    }
}
EOC
}

# fw4-like ruleset: stateful input/forward, SNAT chain filled by the DHCP hook, and
# the chains miniupnpd (nftables backend) expects, named as on OpenWrt.
# The input chain includes muros-ha's snippet where `config include 'muros_ha'`
# (/etc/config/firewall) makes fw4 put it. The one-character class makes it a glob:
# like fw4 with a missing include path, nft then skips it instead of failing.
write_firewall() {
	local r=$1 root; root=$(root_of "$r")
	if [ "$NAT" = masquerade ]; then touch "$root/etc/lab-nat-masquerade"; else rm -f "$root/etc/lab-nat-masquerade"; fi
	cat >"$root/etc/lab-fw4.nft" <<EOC
table inet fw4
delete table inet fw4
table inet fw4 {
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		include "$root/etc/muros-ha/fw4-input.nf[t]"
		ct state established,related accept
		ct state invalid counter drop
		iifname "lan0" accept
		iifname "sync0" accept
		iifname "$WAN_DEV" udp dport 68 accept
$([ "$WG" = 1 ] && printf '\t\tiifname "%s" accept\n\t\tiifname "%s" udp dport %s accept\n' "$WG_IFACE" "$WAN_DEV" "$WG_PORT")
		ip protocol icmp accept
		iifname "$WAN_DEV" meta l4proto tcp reject with tcp reset
		iifname "$WAN_DEV" reject
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ct state invalid counter drop
		iifname "lan0" oifname "$WAN_DEV" accept
$([ "$WG" = 1 ] && printf '\t\tiifname "lan0" oifname "%s" accept\n\t\tiifname "%s" oifname "lan0" accept\n' "$WG_IFACE" "$WG_IFACE")
		jump upnp_forward
	}
	chain upnp_forward {
	}
	chain dstnat {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "$WAN_DEV" jump upnp_prerouting
	}
	chain upnp_prerouting {
	}
	chain srcnat {
		type nat hook postrouting priority srcnat; policy accept;
		include "$root/etc/muros-ha/fw4-srcnat.nf[t]"
		oifname "$WAN_DEV" jump srcnat_wan
		jump upnp_postrouting
	}
	chain srcnat_wan {
$( [ "$NAT" = masquerade ] && printf '\t\tmasquerade\n' )
	}
	chain upnp_postrouting {
	}
}
EOC
}

write_misc() {
	local r=$1 root; root=$(root_of "$r")
	mkdir -p "$root/etc/init.d" "$root/lib/lab" "$root/var/run/ubus" "$root/var/lock" \
		"$root/var/log" "$root/var/lib" "$root/tmp" "$root/var/run/muros-ha"
	cp "$LAB_HERE/initd/common.sh" "$root/lib/lab/common.sh"
	cp "$LAB_HERE/initd/dnsmasq" "$LAB_HERE/initd/odhcpd" "$LAB_HERE/initd/miniupnpd" "$root/etc/init.d/"
	cat >"$root/etc/lab.env" <<EOC
LAN_DEV=lan0
LAN_VIP=$LAN_VIP
LAB_UCI=$UCI
LAB_HOOK=$HOOK
LAB_MUROS_HA=$MUROS_HA
EOC
	cat >"$root/etc/miniupnpd.conf" <<EOC
ext_ifname=$WAN_DEV
listening_ip=lan0
port=0
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=yes
uuid=00000000-0000-4000-8000-00000000000${r#r}
lease_file=$root/var/run/upnp.leases
upnp_table_name=fw4
upnp_nat_table_name=fw4
upnp_forward_chain=upnp_forward
upnp_nat_chain=upnp_prerouting
upnp_nat_postrouting_chain=upnp_postrouting
allow 1024-65535 192.0.2.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOC
	: >"$root/var/log/hooks.log"
}

# ---------------------------------------------------------------- daemons
start_isp() {
	start_isp_dhcp "$ISP_RANGE"
	in_ns "$NS_SRV" python3 "$LAB_HERE/flowtool.py" server --bind "$SRV_IP" \
		>"$LAB_DIR/flowtool-server.log" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
}

start_isp_dhcp() {
	in_ns "$NS_ISP" dnsmasq --conf-file=/dev/null --pid-file="$LAB_DIR/isp-dnsmasq.pid" \
		--dhcp-leasefile="$LAB_DIR/isp-dnsmasq.leases" --log-facility="$LAB_DIR/isp-dnsmasq.log" \
		--interface=br0 --bind-interfaces --except-interface=lo --port=0 --no-ping \
		--dhcp-range="$1" --dhcp-option=option:router,"$ISP_GW" --dhcp-authoritative \
		--user=root --group=root || lab_die "isp dnsmasq"
}

# lab_isp_renumber: the ISP's DHCP server restarts with ISP_RANGE2 and forgets its
# leases, as after an ISP-side change: the shared lease is no longer confirmed.
lab_isp_renumber() {
	local p; p=$(cat "$LAB_DIR/isp-dnsmasq.pid" 2>/dev/null)
	[ -n "$p" ] && kill "$p" 2>/dev/null
	wait_until 5 sh -c "! kill -0 $p 2>/dev/null"
	rm -f "$LAB_DIR/isp-dnsmasq.leases"
	start_isp_dhcp "$ISP_RANGE2"
}

# lab_isp_garp_count ADDR: gratuitous ARP requests (sender = target = ADDR) the ISP's
# host has seen since the first call (which installs the counter, in the ISP's namespace).
lab_isp_garp_count() {
	if ! in_ns "$NS_ISP" nft list table arp lab_garp >/dev/null 2>&1; then
		in_ns "$NS_ISP" nft -f - <<EON || return 1
table arp lab_garp {
	chain input {
		type filter hook input priority 0; policy accept;
		arp operation request arp saddr ip $1 arp daddr ip $1 counter
	}
}
EON
	fi
	in_ns "$NS_ISP" nft list table arp lab_garp 2>/dev/null | awk '/counter packets/ {for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1)}'
}

# ubus_accepts SOCK: a client can connect and list (quietly).
ubus_accepts() {
	"$UBUS" -s "$1" list >/dev/null 2>&1
}

start_ubus() {
	local r=$1 root; root=$(root_of "$r")
	# A socket file left by the previous case's ubusd would satisfy the wait below
	# before the new ubusd listens; the netifd stand-in then fails to connect and exits
	# ("Failed to connect to ubus"), seen once under load.
	rm -f "$root/var/run/ubus/ubus.sock"
	rx "$r" "$UBUSD" -s "$root/var/run/ubus/ubus.sock" </dev/null >/dev/null 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	# Until a client can connect, not merely until the socket file exists: ubusd binds
	# before it listens, and a connect in between is refused (seen under load).
	wait_until 5 ubus_accepts "$root/var/run/ubus/ubus.sock" || lab_die "$r: ubusd socket"
	rx "$r" "$UCODE" -L "$UCODE_LIB" -D SOCK="$root/var/run/ubus/ubus.sock" -D ROOT="$root" \
		-D IFACE=wan -D DEVICE="$WAN_DEV" -D SCRIPT="$LAB_HERE/udhcpc-script.sh" \
		-D MUROS="$( [ "$HOOK" = muros ] && [ "$LEASE_CACHE" = 1 ] && echo "$MUROS_HA")" \
		"$LAB_HERE/netifd-wan.uc" </dev/null >>"$root/var/log/netifd-wan.err" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	"$UBUS" -s "$root/var/run/ubus/ubus.sock" -t 5 wait_for network.interface.wan \
		|| lab_die "$r: network.interface.wan did not register"
	[ "$WG" = 1 ] || return 0
	rx "$r" "$UCODE" -L "$UCODE_LIB" -D SOCK="$root/var/run/ubus/ubus.sock" -D ROOT="$root" \
		-D IFACE="$WG_IFACE" -D WITH_RUN="$LAB_HERE/with-run.sh" -D WG_GO="$WIREGUARD_GO" \
		-D WG="$WG_TOOL" -D IP="$(command -v ip)" \
		"$LAB_HERE/netifd-wg.uc" </dev/null >>"$root/var/log/netifd-$WG_IFACE.err" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	"$UBUS" -s "$root/var/run/ubus/ubus.sock" -t 5 wait_for "network.interface.$WG_IFACE" \
		|| lab_die "$r: network.interface.$WG_IFACE did not register"
}

start_conntrackd() {
	local r=$1 root; root=$(root_of "$r")
	[ "$CONNTRACKD" = 1 ] || return 0
	rm -f "$root/var/lock/conntrackd.lock"
	rx "$r" conntrackd -C "$root/etc/conntrackd/conntrackd.conf" -d </dev/null >/dev/null 2>&1 \
		|| lab_die "$r: conntrackd failed to start (see $root/var/log/conntrackd.log)"
}

# procd stand-in: respawn keepalived when it dies (pitfall 8), bounded, until the
# router's nosupervise flag exists.
start_keepalived() {
	local r=$1 root; root=$(root_of "$r")
	rm -f "$root/var/run/keepalived.nosupervise"
	(
		n=0
		while [ $n -lt 50 ] && [ ! -e "$root/var/run/keepalived.nosupervise" ]; do
			ip netns exec "${NS[$r]}" keepalived -n -l -D -P \
				-f "$root/etc/keepalived/keepalived.conf" \
				-p "$root/var/run/keepalived.pid" -r "$root/var/run/keepalived_vrrp.pid" \
				</dev/null >>"$root/var/log/keepalived.log" 2>&1
			n=$((n+1))
			sleep 0.5
		done
	) &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	echo $! >"$root/var/run/supervisor.pid"
}

keepalived_pids() {
	local root; root=$(root_of "$1")
	cat "$root/var/run/keepalived.pid" "$root/var/run/keepalived_vrrp.pid" 2>/dev/null
}
stop_keepalived() {  # graceful: SIGTERM, supervisor told not to respawn
	local r=$1 root p; root=$(root_of "$r")
	touch "$root/var/run/keepalived.nosupervise"
	p=$(cat "$root/var/run/keepalived.pid" 2>/dev/null)
	[ -n "$p" ] && kill "$p" 2>/dev/null
	wait_until 5 sh -c "! kill -0 $p 2>/dev/null"
}

render_configs() {
	local r=$1 root; root=$(root_of "$r")
	if [ "$CONFIGS" = render ]; then
		[ -x "$MUROS_HA" ] || lab_die "CONFIGS=render needs $MUROS_HA"
		rx "$r" "$MUROS_HA" render --root "$root" --hook "$LAB_HERE/lab-hook.sh" >>"$root/var/log/render.log" 2>&1 \
			|| lab_die "$r: muros-ha render failed (see $root/var/log/render.log)"
		# what a router applies at boot from /etc/sysctl.d (pitfall 2 for the WAN parent)
		[ -f "$root/etc/sysctl.d/60-muros-ha.conf" ] && rx "$r" sysctl -q -p "$root/etc/sysctl.d/60-muros-ha.conf"
	else
		write_keepalived_conf "$r"
		write_conntrackd_conf "$r"
	fi
}

lab_up() {
	local r t0; t0=$(now_ms)
	if [ "$HOOK" = muros ] && [ ! -x "$MUROS_HA" ]; then
		lab_die "HOOK=muros needs the binary at $MUROS_HA (cargo build, or set MUROS_HA)"
	fi
	command -v keepalived >/dev/null && command -v conntrackd >/dev/null && command -v nft >/dev/null \
		&& command -v dnsmasq >/dev/null && command -v udhcpc >/dev/null || lab_die "missing tools"
	[ -x "$UCI" ] || lab_die "no uci at $UCI (the routers' dnsmasq reads /etc/config/dhcp with it)"
	lab_topology
	for r in ra rb; do
		write_uci "$r"; write_dhcp_uci "$r"; write_misc "$r"; write_firewall "$r"
	done
	start_isp
	for r in ra rb; do
		render_configs "$r"
		rx "$r" nft -f "$(root_of "$r")/etc/lab-fw4.nft" || lab_die "$r: nft"
		# without conntrackd a mid-stream TCP packet must not be picked up as a new
		# flow, otherwise the lab could not tell synced state from luck
		rx "$r" sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
		start_ubus "$r"
		start_conntrackd "$r"
	done
	# Boot order: the configured master first, the backup once the VIP is up. Started
	# together, a VRRPv3/0.1 s pair can elect rb for a moment and flap at once, and the
	# seed hook (no lock, keepalived runs notifies concurrently) may then leave services
	# on the backup; the faults under test should start from a settled pair.
	start_keepalived ra
	wait_until 10 has_vip ra || lab_log "ra has no VIP 10 s after start"
	start_keepalived rb
	start_client
	lab_log "lab $LAB_ID up in $(( $(now_ms) - t0 )) ms (HOOK=$HOOK VRRPv$VRRP_VERSION advert ${ADVERT}s)"
}

# ---------------------------------------------------------------- the LAN client
# `cl` runs busybox udhcpc like a laptop: address, gateway and DNS from whichever
# router's dnsmasq answers (only the master runs one). Its script
# (client-dhcp-script.sh) records the lease in $LAB_DIR/cl.
dnsmasq_somewhere() { service_running ra dnsmasq || service_running rb dnsmasq; }
start_client() {
	local d=$LAB_DIR/cl
	mkdir -p "$d"
	: >"$d/events.log"
	# the hook starts dnsmasq on the master after the VIP is up
	wait_until 15 dnsmasq_somewhere || lab_die "no router runs dnsmasq 15 s after boot: the client cannot get a lease"
	in_ns "$NS_CL" env LAB_CLIENT_DIR="$d" udhcpc -f -i eth0 -s "$LAB_HERE/client-dhcp-script.sh" \
		-x hostname:lab-cl -t 10 -T 1 -A 2 </dev/null >"$d/udhcpc.log" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	wait_until 10 test -s "$d/lease" \
		|| lab_die "the client got no DHCP lease in 10 s (see $d/udhcpc.log, $d/events.log, the routers' var/log/dnsmasq.log)"
	local why; why=$(client_lease_problems)
	[ -z "$why" ] || lab_die "client lease: $why"
	lab_log "client lease $(client_addr) from $(client_server), gateway $(client_gateway), DNS $(client_dns) (DHCP)"
}
client_addr() { ip -n "$NS_CL" -4 -o addr show dev eth0 2>/dev/null | awk '{split($4,a,"/"); print a[1]; exit}'; }
# The default route the client's DHCP script installed (`proto dhcp`); a hand-set
# route would not show here.
client_gateway() { ip -n "$NS_CL" -4 route show default proto dhcp 2>/dev/null | awk '$2=="via" {print $3; exit}'; }
client_dns() { awk '$1=="nameserver" {printf "%s%s", s, $2; s=" "}' "$LAB_DIR/cl/resolv.conf" 2>/dev/null; }
client_server() {  # which router's dnsmasq gave the lease (DHCP server identifier)
	local sid r; sid=$(awk '{print $3}' "$LAB_DIR/cl/lease" 2>/dev/null)
	for r in ra rb; do [ "${R_LAN[$r]}" = "$sid" ] && { echo "$r"; return; }; done
	echo "${sid:-nobody}"
}
client_events() { awk -v e="$1" '$2==e' "$LAB_DIR/cl/events.log" 2>/dev/null | wc -l; }
# Why the client's lease is not what HA needs (empty when it is): gateway and DNS
# server are the VIP, as received by DHCP, and the DNS server answers.
client_lease_problems() {
	local gw dns out=()
	gw=$(client_gateway) dns=$(client_dns)
	[ -n "$(client_addr)" ] || out+=("no address on the client")
	[ "$gw" = "$LAN_VIP" ] || out+=("DHCP gateway is '${gw:-none}', not the VIP $LAN_VIP")
	[ "$dns" = "$LAN_VIP" ] || out+=("DHCP DNS server is '${dns:-none}', not the VIP $LAN_VIP")
	[ -z "$dns" ] || client_resolves "${dns%% *}" || out+=("DNS server ${dns%% *} does not answer for $LAB_DNS_NAME")
	[ ${#out[@]} -eq 0 ] && return 0
	local joined; joined=$(printf '%s; ' "${out[@]}"); echo "${joined%; }"
}
client_resolves() {  # client_resolves SERVER: the name the routers' dnsmasq knows
	in_ns "$NS_CL" timeout 3 busybox nslookup -type=a "$LAB_DNS_NAME" "$1" 2>/dev/null | grep -q "Address: $SRV_IP"
}
# The client kept its one lease through whatever happened: bound once, never renewed,
# rebound or lost, and the lease still says the VIP. Empty when so.
client_kept_lease() {
	local b n why
	b=$(client_events bound) n=$(client_events renew)
	[ "$b" = 1 ] || echo "client bound $b leases (expected 1: a lost lease was replaced)"
	[ "$n" = 0 ] || echo "client renewed its lease $n times (the test must not need a renewal)"
	n=$(($(client_events deconfig) - 1)); [ "$n" -le 0 ] || echo "client lost its lease $n times (deconfig)"
	n=$(($(client_events nak) + $(client_events leasefail))); [ "$n" = 0 ] || echo "client got $n NAK/leasefail"
	why=$(client_lease_problems); [ -z "$why" ] || echo "$why"
}

# ---------------------------------------------------------------- traffic
flow_start() {  # flow_start NAME [SERVER] -> status file $LAB_DIR/flow-NAME.json
	local name=${1:-main} server=${2:-$SRV_IP}
	rm -f "$LAB_DIR/flow-$name.json" "$LAB_DIR/flow-$name.stop"
	in_ns "$NS_CL" python3 "$LAB_HERE/flowtool.py" client --server "$server" \
		--status "$LAB_DIR/flow-$name.json" --stop-file "$LAB_DIR/flow-$name.stop" \
		--duration "${FLOW_DURATION:-900}" >"$LAB_DIR/flow-$name.log" 2>&1 &
	LAB_PIDS+=($!); disown $! 2>/dev/null
	eval "FLOW_PID_$name=$!"
	wait_until 5 test -s "$LAB_DIR/flow-$name.json"
}
flow_stop() {
	local name=${1:-main} pid
	touch "$LAB_DIR/flow-$name.stop"
	eval "pid=\${FLOW_PID_$name:-}"
	[ -n "$pid" ] && wait_until 5 sh -c "! kill -0 $pid 2>/dev/null"
	return 0
}
# flow_get NAME FIELD
flow_get() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=d.get(sys.argv[2]); print(str(v).lower() if isinstance(v,bool) else v)' \
		"$LAB_DIR/flow-$1.json" "$2" 2>/dev/null
}
# longest gap (ms) of PROTO that started at/after T0 ms (epoch), from the gap list
flow_gap_after() {
	python3 -c '
import json,sys
d=json.load(open(sys.argv[1])); t0=float(sys.argv[3])/1000.0
g=[x["ms"] for x in d["gaps"] if x["proto"]==sys.argv[2] and x["start"]>=t0-1.0]
print(max(g) if g else 0)' "$LAB_DIR/flow-$1.json" "$2" "$3" 2>/dev/null
}
# is the flow alive: no reset and new replies within the last second
flow_alive() {
	local name=${1:-main}
	python3 -c '
import json,sys,time
d=json.load(open(sys.argv[1]))
ok = (not d["tcp_reset"]) and d["tcp_last"] and time.time()-d["tcp_last"] < 1.0
sys.exit(0 if ok else 1)' "$LAB_DIR/flow-$name.json" 2>/dev/null
}

# ---------------------------------------------------------------- faults
# Power cut: every process of the router dies at once and its cables go dead.
lab_power_cut() {
	local r=$1 root p; root=$(root_of "$r")
	touch "$root/var/run/keepalived.nosupervise"
	p=$(cat "$root/var/run/supervisor.pid" 2>/dev/null)
	[ -n "$p" ] && kill -9 "$p" 2>/dev/null
	# Freeze everything first: a SIGKILLed keepalived parent makes its VRRP child get
	# SIGTERM (parent-death signal), and a child that shuts down gracefully sends a
	# priority-0 advert -- a power cut sends nothing. Then cut the links, then kill.
	local pids dev
	pids=$(ip netns pids "${NS[$r]}")
	for p in $pids; do kill -STOP "$p" 2>/dev/null; done
	for dev in wanp lan0 sync0; do ip -n "${NS[$r]}" link set "$dev" down; done
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	ip netns pids "${NS[$r]}" | while read -r p; do kill -9 "$p" 2>/dev/null; done
}

# Power on: like a boot. Kernel state that a reboot loses is reset (addresses on the
# WAN, conntrack table), then the daemons start again in boot order.
lab_power_on() {
	local r=$1 root dev; root=$(root_of "$r")
	rm -rf "$root/var/run/wireguard" "$root/var/run/netifd-$WG_IFACE"
	rm -f "$root"/var/run/*.pid "$root/var/run/udhcpc-wan.bound" "$root/var/run/ubus/ubus.sock" \
		"$root"/var/run/dnsmasq.*.dhcp
	ip -n "${NS[$r]}" link set "$WAN_DEV" down
	ip -n "${NS[$r]}" -4 addr flush dev "$WAN_DEV"
	[ "$WAN_MODE" = static ] && ip -n "${NS[$r]}" addr add "${R_WAN[$r]}/24" dev wanp
	ip -n "${NS[$r]}" addr del "$LAN_VIP/$LAN_PREFIX" dev lan0 2>/dev/null
	rx "$r" conntrack -F >/dev/null 2>&1
	for dev in wanp lan0 sync0; do ip -n "${NS[$r]}" link set "$dev" up; done
	rx "$r" nft -f "$root/etc/lab-fw4.nft"
	# /var/run is a tmpfs on a router: the fence and the last state do not survive
	rm -f "$root"/var/run/muros-ha/{fence,fence.reason,upstream,desired,current,wan-lease}
	start_ubus "$r"
	start_conntrackd "$r"
	start_keepalived "$r"
	[ "${LAB_DAEMONS:-0}" = 1 ] && start_daemon "$r"
	return 0
}

# The muros-ha daemon of router R, as procd runs it (LAB_DAEMONS=1: begin() starts
# both, lab_power_on restarts it). Not through rx: a backgrounded function is a
# subshell, and DPID[R] must be the daemon itself (ip netns exec execs it).
declare -gA DPID=()
start_daemon() {
	local r=$1
	ip netns exec "${NS[$r]}" "$MUROS_HA" daemon --root "$(root_of "$r")" --no-converge --no-verify \
		--hook "$LAB_HERE/lab-hook.sh" </dev/null >>"$(root_of "$r")/var/log/daemon.log" 2>&1 &
	# shellcheck disable=SC2034 # read by faults.sh (set_vrrp_password's SIGHUP)
	DPID[$r]=$!
	LAB_PIDS+=($!); disown $! 2>/dev/null
}

# ---------------------------------------------------------------- the daemons
# The muros-ha daemon on both routers, as procd runs it; stopped by lab_down.
start_daemons() {
	local r
	# shellcheck disable=SC2034 # read by lib.sh (lab_power_on restarts the daemon)
	LAB_DAEMONS=1
	for r in ra rb; do start_daemon "$r"; done
	for r in ra rb; do wait_until 10 daemon_answers "$r" || { lab_log "daemon on $r does not answer"; return 1; }; done
}
daemon_status() {
	rx "$1" "$UBUS" -s "$(root_of "$1")/var/run/ubus/ubus.sock" -t 2 call muros_ha status 2>/dev/null
}
daemon_answers() { daemon_status "$1" | grep -q '"version"'; }
peer_connected() {
	daemon_status "$1" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["peer"]["connected"] else 1)' 2>/dev/null
}
local_key() {
	daemon_status "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["peer"]["local_key"])' 2>/dev/null
}
# pair_daemons: each router's peer_key is the other's public key (what the LuCI
# pairing form will write), a package of no consequence is replicated, SIGHUP.
pair_daemons() {
	local ka kb r
	ka=$(local_key ra) kb=$(local_key rb)
	[ ${#ka} = 44 ] && [ ${#kb} = 44 ] || { lab_log "no local keys ('$ka' '$kb')"; return 1; }
	for r in ra rb; do
		local k=$ka; [ "$r" = ra ] && k=$kb
		sed -i "/^config global/a\\\\toption peer_key '$k'\n\tlist replicate 'labpair'" "$(root_of "$r")/etc/config/muros_ha"
		printf "config note 'lab'\n\toption text 'same on both'\n" >"$(root_of "$r")/etc/config/labpair"
		kill -HUP "${DPID[$r]}"
	done
	for r in ra rb; do wait_until 15 peer_connected "$r" || { lab_log "peer link on $r did not come up"; return 1; }; done
}

# lab_isp_drop_port PORT: the ISP drops every IPv4 packet but DHCP arriving on its
# bridge port PORT (wa = ra's WAN cable): that router's link and lease stay up, its
# upstream is gone. Removed with the ISP namespace.
lab_isp_drop_port() {
	in_ns "$NS_ISP" nft -f - <<EON
table bridge lab_upstream {
	chain input {
		type filter hook input priority 0; policy accept;
		iifname "$1" udp dport 67 accept
		iifname "$1" ether type ip drop
	}
}
EON
}
# lab_isp_blackhole_internet on|off: the ISP loses its route to the internet server
# (both routers' upstream fails; their links and leases stay up).
lab_isp_blackhole_internet() {
	if [ "$1" = on ]; then ip -n "$NS_ISP" route add blackhole "$SRV_IP/32"; else ip -n "$NS_ISP" route del blackhole "$SRV_IP/32"; fi
}

lab_kill_keepalived() {  # SIGKILL both keepalived processes; the supervisor respawns
	local r=$1 p
	for p in $(keepalived_pids "$r"); do kill -9 "$p" 2>/dev/null; done
}

procs_named() {  # procs_named R COMM: PIDs of processes called COMM in router R's netns
	local p
	for p in $(ip netns pids "${NS[$1]}"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && echo "$p"
	done
}
conntrackd_pid() { procs_named "$1" conntrackd; }

# lab_foreign_vrrp VRID VIP PASS: another VRRP router on the LAN (192.0.2.9), as a
# neighbour cluster would be; (re)started with this VRID, VIP and password. Its
# keepalived is the real one, priority 50, no notify hook.
lab_foreign_vrrp() {
	local vrid=$1 vip=$2 pass=$3 dir=$LAB_DIR/fx p
	if [ ! -d "$dir" ]; then
		mkdir -p "$dir"
		ip netns add "$NS_FX" || lab_die "ip netns add $NS_FX"
		ip -n "$NS_FX" link set lo up
		ip -n "$NS_LAN" link add lx type veth peer name lan0 netns "$NS_FX"
		ip -n "$NS_LAN" link set lx master br0 up
		ip -n "$NS_FX" addr add 192.0.2.9/$LAN_PREFIX dev lan0
		ip -n "$NS_FX" link set lan0 up
	fi
	p=$(cat "$dir/keepalived.pid" 2>/dev/null)
	if [ -n "$p" ]; then kill "$p" 2>/dev/null; wait_until 5 sh -c "! kill -0 $p 2>/dev/null"; fi
	local auth=""
	[ "$VRRP_VERSION" = 2 ] && auth="authentication {
        auth_type PASS
        auth_pass $pass
    }"
	cat >"$dir/keepalived.conf" <<EOC
global_defs {
    router_id lab-foreign
    vrrp_version $VRRP_VERSION
}
vrrp_instance other {
    state BACKUP
    interface lan0
    virtual_router_id $vrid
    priority 50
    advert_int $ADVERT
    $auth
    virtual_ipaddress {
        $vip/$LAN_PREFIX dev lan0
    }
}
EOC
	ip netns exec "$NS_FX" keepalived -n -l -D -P -f "$dir/keepalived.conf" \
		-p "$dir/keepalived.pid" -r "$dir/keepalived_vrrp.pid" </dev/null >>"$dir/keepalived.log" 2>&1 &
	LAB_PIDS+=($!)
}

# IPv6 (IPV6=1): the client's default routers (link-local addresses), and router R's.
client_v6_routers() { ip -n "$NS_CL" -6 route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "via") print $(i + 1)}' | sort | tr '\n' ' '; }
router_ll() { ip -n "${NS[$1]}" -6 -o addr show dev lan0 scope link 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}'; }
client_v6_via() { case " $(client_v6_routers)" in *" $(router_ll "$1") "*) return 0 ;; esac; return 1; }
client_v6_only_via() { [ "$(client_v6_routers)" = "$(router_ll "$1") " ]; }
client_v6_addr() { ip -n "$NS_CL" -6 -o addr show dev eth0 scope global 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}'; }

