#!/bin/bash
# Hook cost: muros-ha notify vs a seed-style shell hook running the same children, in a
# private netns with a real conntrackd and a private ubusd (+ netifd stand-in).
# usage: bench.sh /path/to/muros-ha [iterations]   (root; cleans up after itself)
set -eu
BIN=$(readlink -f "$1"); N=${2:-20}
SHARED=${MUROS_SHARED:-/work/shared}
TOOLS=$SHARED/openwrt-tools/bin
UCODE=$SHARED/openwrt-web/rootfs/bin/ucode
HERE=$(cd "$(dirname "$0")" && pwd)
R=$(mktemp -d /tmp/muros-fo-bench.XXXXXX); NS=mfo-bench-$$
PIDS=()
cleanup() {
  # newest first: the stand-in before its ubusd
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
  c=$(pgrep -f "conntrackd -C $R/etc/conntrackd/conntrackd.conf" || true); [ -n "$c" ] && kill $c
  ip netns del "$NS" 2>/dev/null || true; rm -rf "$R"
}
trap cleanup EXIT
ip netns add "$NS"; ip -n "$NS" link set lo up
mkdir -p "$R/etc/conntrackd" "$R/var/lock" "$R/var/run/ubus" "$R/var/run/muros-ha" "$R/etc/init.d"
cat > "$R/etc/conntrackd/conntrackd.conf" <<EOC
Sync {
 Mode FTFW {
  DisableExternalCache Off
  PurgeTimeout 5
 }
 UDP {
  IPv4_address 127.0.0.1
  IPv4_Destination_Address 127.0.0.1
  Port 3780
  Interface lo
 }
}
General {
 HashSize 8192
 HashLimit 65535
 LogFile off
 Syslog off
 LockFile $R/var/lock/conntrackd.lock
 UNIX {
  Path $R/var/run/conntrackd.ctl
 }
 Filter From Userspace {
  Address Ignore {
   IPv4_address 127.0.0.1
  }
 }
}
EOC
for s in dnsmasq odhcpd miniupnpd; do
  printf '#!/bin/sh\ncase "$1" in start) touch %s/run-%s;; stop) rm -f %s/run-%s;; running) [ -e %s/run-%s ];; esac\n' \
    "$R" $s "$R" $s "$R" $s > "$R/etc/init.d/$s"; chmod 755 "$R/etc/init.d/$s"
done
printf '{"enabled":true,"wan":"wan","services":["dnsmasq","odhcpd","miniupnpd"],"vips":[]}' > "$R/var/run/muros-ha/plan-inputs.json"
SOCK=$R/var/run/ubus/ubus.sock
$TOOLS/ubusd -s "$SOCK" & PIDS+=($!)
for i in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.02; done
UBUS_SOCKET=$SOCK NETIF_NAME=wan NETIF_LOG=$R/netif.log NETIF_STAMP=1 $UCODE -L "$SHARED/openwrt-web/rootfs/usr/lib/ucode/*.so" "$HERE/netifd_standin.uc" & PIDS+=($!)
$TOOLS/ubus -s "$SOCK" -t 5 wait_for network.interface.wan
ip netns exec "$NS" conntrackd -C "$R/etc/conntrackd/conntrackd.conf" -d
C=$R/etc/conntrackd/conntrackd.conf
# The seed-style hook: same children, one after the other, as shell hooks do.
cat > "$R/hook.sh" <<EOS
#!/bin/sh
case "\$3" in
MASTER)
  conntrackd -C $C -c; conntrackd -C $C -f internal; conntrackd -C $C -R; conntrackd -C $C -B; conntrackd -C $C -f external
  ubus -s $SOCK call network.interface.wan up
  for s in dnsmasq odhcpd miniupnpd; do $R/etc/init.d/\$s start; done
  for s in dnsmasq odhcpd miniupnpd; do $R/etc/init.d/\$s running || logger -t hook "\$s not running"; done
  ubus -s $SOCK send muros_ha.transition '{"to":"MASTER"}' ;;
*)
  conntrackd -C $C -f internal
  ubus -s $SOCK call network.interface.wan down
  for s in dnsmasq odhcpd miniupnpd; do $R/etc/init.d/\$s stop; done
  conntrackd -C $C -t; conntrackd -C $C -n
  for s in dnsmasq odhcpd miniupnpd; do $R/etc/init.d/\$s running && logger -t hook "\$s still running"; done
  ubus -s $SOCK send muros_ha.transition '{"to":"BACKUP"}' ;;
esac
EOS
chmod 755 "$R/hook.sh"
export PATH=$TOOLS:/usr/sbin:/usr/bin:/sbin:/bin
run() { # label cmd... → median ms over N MASTER+BACKUP pairs
  NETIF_LOG=$R/netif.log /usr/bin/python3 - "$N" "$@" <<'EOP'
import os, subprocess, sys, time, statistics
n = int(sys.argv[1]); label = sys.argv[2]; cmd = sys.argv[3:]
log = os.environ["NETIF_LOG"]
ts = {"MASTER": [], "BACKUP": []}; wan = []
def last_up():
    ups = [l.split() for l in open(log) if l.startswith("up ")]
    return float(ups[-1][1]) if ups else None
for i in range(n):
    for st in ("MASTER", "BACKUP"):
        before = last_up() if os.path.exists(log) else None
        t0 = time.perf_counter(); m0 = time.monotonic()
        subprocess.run(cmd + ["GROUP", "muros_ha", st, "150"], check=True, stderr=subprocess.DEVNULL)
        ts[st].append((time.perf_counter() - t0) * 1000)
        if st == "MASTER" and os.path.exists(log):
            up = last_up()
            if up is not None and up != before:
                wan.append((up - m0) * 1000)
for st, v in ts.items():
    print(f"{label:10s} {st:6s} median {statistics.median(v):7.2f} ms  min {min(v):7.2f}  max {max(v):7.2f}")
if wan:
    print(f"{label:10s} event→WAN up median {statistics.median(wan):7.2f} ms  min {min(wan):7.2f}")
EOP
}
run muros-ha ip netns exec "$NS" "$BIN" notify --root "$R"
run shell ip netns exec "$NS" "$R/hook.sh"
run netns-only ip netns exec "$NS" /bin/true
# our own overhead: the same binary with nothing to run (plan disabled, no ubus CLI)
printf '{"enabled":false,"wan":null,"services":[],"vips":[]}' > "$R/var/run/muros-ha/plan-inputs.json"
PATH=/nonexistent run muros-noop "$BIN" notify --root "$R"
/usr/bin/python3 - "$R/var/run/muros-ha/history.jsonl" <<'EOP'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
full = [r for r in recs if r["actions"]]
last = {r["to"]: r for r in full}
for st, r in last.items():
    print(f"last {st}: plan {r['ms']} ms, ok={r['ok']}")
    for a in r["actions"]:
        print(f"   {a['ms']:4d} ms {'ok ' if a['ok'] else 'ERR'} {a['action'][:90]}")
EOP
