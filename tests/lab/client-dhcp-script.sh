#!/bin/sh
# shellcheck disable=SC2154 # interface, ip, mask, ...: set by udhcpc
# udhcpc hook for the lab's LAN client `cl`, which takes its address, gateway and DNS
# server by DHCP from the master's dnsmasq, as a user's laptop does (a hand-set
# gateway hides LAB-NOTES pitfall 13). busybox udhcpc runs it with $1 =
# deconfig|bound|renew|leasefail|nak and the lease in the environment ($interface $ip
# $mask $router $dns $serverid $lease). LAB_CLIENT_DIR comes from lib.sh.
#
# Files in LAB_CLIENT_DIR, read by the lab's checks:
#   resolv.conf   `nameserver X` per DHCP DNS server (what /etc/resolv.conf would get)
#   lease         "<ip>/<mask> <router> <serverid> <lease s>" of the current lease
#   events.log    one line per event: "<epoch s> <event> <ip> <router> <dns> <serverid>",
#                 so a test can count bound/renew (a renewal must not be needed to
#                 survive a failover)
# The default route is installed with `proto dhcp`, so a route set by hand cannot
# pass for the one DHCP gave.
set -u
dir=${LAB_CLIENT_DIR:?}
log() { echo "$(date +%s.%N | cut -c1-14) $*" >>"$dir/events.log"; }

case "$1" in
deconfig)
	ip -4 addr flush dev "$interface" 2>/dev/null
	rm -f "$dir/lease" "$dir/resolv.conf"
	log deconfig - - - -
	;;
bound|renew)
	ip -4 addr replace "$ip/${mask:-24}" dev "$interface"
	gw=${router:-}
	gw=${gw%% *}
	if [ -n "$gw" ]; then
		ip -4 route replace default via "$gw" dev "$interface" proto dhcp
	fi
	: >"$dir/resolv.conf.new"
	for d in ${dns:-}; do echo "nameserver $d" >>"$dir/resolv.conf.new"; done
	mv "$dir/resolv.conf.new" "$dir/resolv.conf"
	echo "$ip/${mask:-24} ${gw:--} ${serverid:--} ${lease:--}" >"$dir/lease"
	log "$1" "$ip" "${gw:--}" "$(echo "${dns:--}" | tr ' ' ,)" "${serverid:--}"
	;;
leasefail|nak)
	log "$1" - - - -
	;;
esac
exit 0
