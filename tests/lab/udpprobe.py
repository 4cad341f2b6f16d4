#!/usr/bin/env python3
"""A UDP stream alone, for the lab: datagrams to an echo server (flowtool.py's UDP port)
every `interval` seconds, and the gaps between the replies.

  udpprobe.py --server ADDR [--port 5002] --status FILE [--interval 0.01]
              [--duration 900] [--stop-file FILE]

flowtool.py's client sends TCP and UDP from one loop: when an outage outlasts the TCP
send buffer, its blocking TCP send stops the UDP stream too, and TCP's retransmission
backoff (up to minutes) then hides when the path came back. This one sends nothing
else, so its gaps show the outage itself.

The status file (JSON, replaced atomically every 100 ms and at exit) has flowtool's
UDP fields: udp_sent, udp_received, udp_last, udp_max_gap_ms, gaps [{"proto": "udp",
"start", "ms"}] (every gap of 5 intervals or more), started, now.
"""
import argparse, json, os, select, signal, socket, struct, sys, threading, time

GAP_FACTOR = 5


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True)
    ap.add_argument("--port", type=int, default=5002)
    ap.add_argument("--status", required=True)
    ap.add_argument("--interval", type=float, default=0.01)
    ap.add_argument("--duration", type=float, default=900)
    ap.add_argument("--stop-file")
    args = ap.parse_args()

    lock = threading.Lock()
    st = {"started": round(time.time(), 3), "udp_sent": 0, "udp_received": 0, "udp_last": None,
          "udp_max_gap_ms": 0.0, "gaps": []}
    min_gap = args.interval * GAP_FACTOR
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((args.server, args.port))
    sock.setblocking(False)

    def rx():
        while not stop.is_set():
            r, _, _ = select.select([sock], [], [], 0.2)
            if not r:
                continue
            try:
                sock.recv(2048)
            except OSError:
                continue  # ICMP errors while the path is down: the stream goes on
            now = time.time()
            with lock:
                last = st["udp_last"]
                if last is not None:
                    gap = now - last
                    if gap >= min_gap and len(st["gaps"]) < 10000:
                        st["gaps"].append({"proto": "udp", "start": round(last, 3), "ms": round(gap * 1000, 1)})
                    st["udp_max_gap_ms"] = max(st["udp_max_gap_ms"], round(gap * 1000, 1))
                st["udp_last"] = now
                st["udp_received"] += 1

    def write_status():
        with lock:
            snap = dict(st, gaps=list(st["gaps"]), now=round(time.time(), 3))
        tmp = args.status + ".tmp"
        with open(tmp, "w") as f:
            json.dump(snap, f)
        os.replace(tmp, args.status)

    threading.Thread(target=rx, daemon=True).start()
    payload = b"u" * 64
    seq = 0
    deadline = time.time() + args.duration
    next_send = next_status = time.time()
    while not stop.is_set() and time.time() < deadline:
        if args.stop_file and os.path.exists(args.stop_file):
            break
        seq += 1
        try:
            sock.send(struct.pack("!Id", seq, time.time()) + payload)
            with lock:
                st["udp_sent"] += 1
        except OSError:
            pass  # no route, no buffer, ICMP error queued: the next one goes anyway
        now = time.time()
        if now >= next_status:
            write_status()
            next_status = now + 0.1
        next_send += args.interval
        delay = next_send - time.time()
        if delay > 0:
            stop.wait(delay)
        else:
            next_send = time.time()
    stop.set()
    time.sleep(0.25)
    write_status()
    return 0


if __name__ == "__main__":
    sys.exit(main())
