#!/bin/sh
# udhcpc hook for the lab's shared-MAC WAN. busybox udhcpc runs it with $1 =
# deconfig|bound|renew|leasefail|nak and the lease in the environment
# ($interface $ip $mask $router $lease $dns). LAB_ROOT / LAB_IFACE come from netifd-wan.uc.
#
# Pitfall 1 (LAB-NOTES): masquerade drops the conntrack entries of an interface that
# goes down, and conntrackd replicates those deletions to the new master. So the WAN
# uses SNAT to the leased address instead, installed BEFORE the default route so no
# forwarded packet can leave un-NATed; a link going down then deletes nothing.
set -u
root=${LAB_ROOT:?}
name=${LAB_IFACE:-wan}
bound="$root/var/run/udhcpc-$name.bound"
remember="$root/var/run/udhcpc-$name.lease"
log="$root/var/log/netifd-wan.log"
now() { date +%s.%N | cut -c1-14; }

started="$root/var/run/udhcpc-$name.started"

case "$1" in
deconfig)
	# As files/muros_dhcp.script: udhcpc's deconfig at its own start would undo the
	# address the cached lease just gave the WAN; later ones (NAK, lease lost) count.
	if [ -n "${LAB_SKIP_FIRST_DECONFIG:-}" ] && [ ! -e "$started" ]; then
		: >"$started"
		echo "$(now) udhcpc deconfig at start skipped (cached lease)" >>"$log"
		exit 0
	fi
	: >"$started"
	rm -f "$bound"
	ip -4 addr flush dev "$interface" 2>/dev/null
	# The SNAT rule stays: it is harmless while the link is down and keeps the
	# replicated entries' NAT bindings valid.
	echo "$(now) udhcpc deconfig $interface" >>"$log"
	;;
bound|renew)
	# NAT=masquerade labs keep fw4's static masquerade rule (see lib.sh).
	if [ ! -e "$root/etc/lab-nat-masquerade" ]; then
		nft flush chain inet fw4 srcnat_wan
		nft add rule inet fw4 srcnat_wan snat ip to "$ip"
	fi
	# Another address than before (the server did not confirm the cached one): the old
	# one goes, as netifd replaces the addresses of an interface update.
	old=$(cut -d' ' -f1 "$bound" 2>/dev/null)
	if [ -n "$old" ] && [ "$old" != "$ip/${mask:-24}" ]; then
		ip -4 addr del "$old" dev "$interface" 2>/dev/null
		echo "$(now) udhcpc address changed $old -> $ip/${mask:-24}" >>"$log"
	fi
	ip -4 addr replace "$ip/${mask:-24}" dev "$interface"
	if [ -n "${router:-}" ]; then
		ip route replace default via "${router%% *}" dev "$interface"
	fi
	echo "$ip" >"$remember"
	gw=${router:-}
	echo "$ip/${mask:-24} ${gw%% *} ${lease:-0} ${dns:-}" >"$bound"
	echo "$(now) udhcpc $1 $interface $ip" >>"$log"
	;;
leasefail|nak)
	echo "$(now) udhcpc $1 $interface" >>"$log"
	;;
esac
exit 0
