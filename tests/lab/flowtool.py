#!/usr/bin/env python3
"""Traffic for the HA lab: a long TCP flow and a UDP stream whose gaps are measured.

  flowtool.py server --bind ADDR --tcp-port P --udp-port Q
  flowtool.py client --server ADDR --tcp-port P --udp-port Q --status FILE
                     [--interval 0.01] [--duration 600] [--stop-file FILE]

The server echoes every byte/datagram back. The client sends a small message every
`interval` seconds on both, and records when replies arrive. A failover shows up as a
gap between two consecutive replies; every gap longer than 5 intervals is kept with
its start time so a harness can match gaps to the failovers it caused. A TCP reset
(ECONNRESET, or EOF from the echo server) is recorded, never retried: a flow that
needed a new connection did not survive.

The status file (JSON, replaced atomically every 100 ms and at exit) holds:
  tcp_bytes, tcp_reset, tcp_error, tcp_max_gap_ms, udp_sent, udp_received,
  udp_max_gap_ms, gaps: [{"proto","start","ms"}], now, started
"""
import argparse, json, os, select, signal, socket, struct, sys, threading, time

GAP_FACTOR = 5


def serve(args):
    tsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tsock.bind((args.bind, args.tcp_port))
    tsock.listen(16)
    usock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    usock.bind((args.bind, args.udp_port))

    def echo_tcp(conn):
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                try:
                    conn.sendall(data)
                except OSError:
                    return

    def accept_loop():
        while True:
            conn, _ = tsock.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=echo_tcp, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    while True:
        data, peer = usock.recvfrom(2048)
        try:
            usock.sendto(data, peer)
        except OSError:
            pass


class Stats:
    def __init__(self, interval):
        self.lock = threading.Lock()
        self.started = time.time()
        self.min_gap = interval * GAP_FACTOR
        self.tcp_bytes = 0
        self.tcp_reset = False
        self.tcp_error = ""
        self.tcp_last = None
        self.tcp_max_gap = 0.0
        self.udp_sent = 0
        self.udp_received = 0
        self.udp_last = None
        self.udp_max_gap = 0.0
        self.gaps = []

    def arrived(self, proto, nbytes=0):
        now = time.time()
        with self.lock:
            last = self.tcp_last if proto == "tcp" else self.udp_last
            if last is not None:
                gap = now - last
                if gap >= self.min_gap and len(self.gaps) < 10000:
                    self.gaps.append({"proto": proto, "start": round(last, 3), "ms": round(gap * 1000, 1)})
                if proto == "tcp":
                    self.tcp_max_gap = max(self.tcp_max_gap, gap)
                else:
                    self.udp_max_gap = max(self.udp_max_gap, gap)
            if proto == "tcp":
                self.tcp_last = now
                self.tcp_bytes += nbytes
            else:
                self.udp_last = now
                self.udp_received += 1

    def snapshot(self):
        with self.lock:
            return {
                "started": round(self.started, 3), "now": round(time.time(), 3),
                "tcp_bytes": self.tcp_bytes, "tcp_reset": self.tcp_reset, "tcp_error": self.tcp_error,
                "tcp_max_gap_ms": round(self.tcp_max_gap * 1000, 1),
                "tcp_last": self.tcp_last,
                "udp_sent": self.udp_sent, "udp_received": self.udp_received,
                "udp_max_gap_ms": round(self.udp_max_gap * 1000, 1),
                "udp_last": self.udp_last,
                "gaps": list(self.gaps),
            }


def write_status(path, stats):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(stats.snapshot(), f)
    os.replace(tmp, path)


def client(args):
    stats = Stats(args.interval)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    tcp = socket.create_connection((args.server, args.tcp_port), timeout=5)
    tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tcp.settimeout(None)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.connect((args.server, args.udp_port))

    def tcp_rx():
        while not stop.is_set():
            r, _, _ = select.select([tcp], [], [], 0.2)
            if not r:
                continue
            try:
                data = tcp.recv(65536)
            except OSError as e:
                with stats.lock:
                    stats.tcp_reset, stats.tcp_error = True, repr(e)
                return
            if not data:
                with stats.lock:
                    stats.tcp_reset, stats.tcp_error = True, "EOF from server"
                return
            stats.arrived("tcp", len(data))

    def udp_rx():
        while not stop.is_set():
            r, _, _ = select.select([udp], [], [], 0.2)
            if not r:
                continue
            try:
                udp.recv(2048)
            except OSError:
                # ICMP unreachable during a failover: the stream goes on.
                continue
            stats.arrived("udp")

    threading.Thread(target=tcp_rx, daemon=True).start()
    threading.Thread(target=udp_rx, daemon=True).start()

    payload = b"m" * 64
    seq = 0
    deadline = time.time() + args.duration
    next_status = 0.0
    next_send = time.time()
    while not stop.is_set() and time.time() < deadline:
        if args.stop_file and os.path.exists(args.stop_file):
            break
        seq += 1
        msg = struct.pack("!Id", seq, time.time()) + payload
        with stats.lock:
            dead = stats.tcp_reset
        if not dead:
            try:
                tcp.sendall(msg)
            except OSError as e:
                with stats.lock:
                    stats.tcp_reset, stats.tcp_error = True, repr(e)
        try:
            udp.send(msg)
            with stats.lock:
                stats.udp_sent += 1
        except OSError:
            pass
        now = time.time()
        if now >= next_status:
            write_status(args.status, stats)
            next_status = now + 0.1
        next_send += args.interval
        delay = next_send - time.time()
        if delay > 0:
            stop.wait(delay)
        else:
            next_send = time.time()
    stop.set()
    time.sleep(0.25)
    write_status(args.status, stats)
    try:
        tcp.close()
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--bind", default="0.0.0.0")
    s.add_argument("--tcp-port", type=int, default=5001)
    s.add_argument("--udp-port", type=int, default=5002)
    c = sub.add_parser("client")
    c.add_argument("--server", required=True)
    c.add_argument("--tcp-port", type=int, default=5001)
    c.add_argument("--udp-port", type=int, default=5002)
    c.add_argument("--status", required=True)
    c.add_argument("--interval", type=float, default=0.01)
    c.add_argument("--duration", type=float, default=600)
    c.add_argument("--stop-file")
    args = ap.parse_args()
    return serve(args) if args.mode == "server" else client(args)


if __name__ == "__main__":
    sys.exit(main())
