//! Attacks on the sync link against real daemons (each in its own network namespace with
//! a real ubusd):
//! - a man in the middle between two paired daemons that replays, reorders, truncates
//!   and flips bits of their frames, and cuts a frame in half: the link stays
//!   authenticated (or re-handshakes), the rejection counters rise, neither side's
//!   config changes by a byte, both daemons keep running and answering ubus;
//! - 100 000 random and mutated frames at a daemon's listening port, on many
//!   connections: the daemon stays up, answers ubus, and its memory stays flat.
//! Root needed: fails under CI=true without it, skips otherwise.

mod peer_support;

use muros_ha::model::peer::{base64_encode, decode_key};
use muros_ha::peer::frame;
use muros_ha::peer::message::{Message, MORE};
use muros_ha::peer::session::generate_keypair;
use peer_support::fake_peer::{FakePeer, PORT};
use peer_support::proxy::{Mode, Proxy};
use peer_support::*;
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const FIREWALL: &str = "config defaults\n\toption input 'ACCEPT'\n\nconfig zone 'lan'\n\toption name 'lan'\n\toption input 'ACCEPT'\n";
const DHCP: &str = "config dnsmasq\n\toption domain 'lan'\n\nconfig dhcp 'lan'\n\toption interface 'lan'\n\toption start '100'\n";

fn rejected(p: &Value, what: &str) -> u64 {
    p["rx_rejected"][what].as_u64().unwrap_or(0)
}

fn firewall_with(port: &str) -> String {
    format!("{}\nconfig rule 'ssh'\n\toption dest_port '{}'\n\toption target 'ACCEPT'\n", FIREWALL, port)
}

/// The bytes of every replicated file on a router.
fn snapshot(r: &Router) -> Vec<(String, Vec<u8>)> {
    ["firewall", "dhcp", "muros_ha"].iter().map(|p| (p.to_string(), fs::read(r.config(p)).unwrap_or_default())).collect()
}

#[test]
fn a_man_in_the_middle_cannot_change_config_nor_bring_a_daemon_down() {
    let Some(mut lab) = Lab::new("m") else { return };
    for r in [&lab.a, &lab.b] {
        fs::write(r.config("firewall"), FIREWALL).unwrap();
        fs::write(r.config("dhcp"), DHCP).unwrap();
    }
    lab.a.start();
    lab.b.start();
    // A (198.18.0.1) dials B; in A's namespace that connection now goes through us.
    let proxy = Proxy::start(&lab.a.ns);
    let (ka, kb) = (lab.a.local_key(), lab.b.local_key());
    lab.a.set_global("peer_key", &kb);
    lab.b.set_global("peer_key", &ka);
    let (a, b) = (&lab.a, &lab.b);
    assert!(b.wait(Duration::from_secs(8), |r| r.peer()["state"] == "in_sync"), "paired through the proxy: {}\nA log:\n{}\nB log:\n{}", b.peer(), a.log(), b.log());
    assert!(proxy.stats().conns.load(Ordering::Relaxed) >= 1, "the link runs through the proxy");

    // Two config pushes, v1 then v2, both captured by the proxy on their way.
    for port in ["22", "2222"] {
        write_atomic(&a.config("firewall"), &firewall_with(port));
        let want = format!("'{}'", port);
        assert!(b.wait(Duration::from_secs(3), |r| fs::read_to_string(r.config("firewall")).unwrap_or_default().contains(&want)), "{} replicated: {}", port, b.peer());
    }
    assert!(b.wait(Duration::from_secs(3), |r| r.peer()["state"] == "in_sync") && a.wait(Duration::from_secs(3), |r| r.peer()["state"] == "in_sync"));
    let (snap_a, snap_b) = (snapshot(a), snapshot(b));
    let (before_a, before_b) = (a.peer(), b.peer());
    let handshakes_b = before_b["handshakes"].as_u64().unwrap();

    // 1. Attack every frame both ways for 6 s: replays (v1's push among them), reorders,
    //    flipped bits, truncations. The originals still pass: the session carries on.
    proxy.set(Mode::Attack);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(6) {
        for r in [a, b] {
            assert!(r.peer()["local_key"].is_string(), "{} answers status", r.ns);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // 2. Cut a frame from A in half and both connections with it: A dials again.
    proxy.set(Mode::Cut);
    assert!(b.wait(Duration::from_secs(10), |r| r.peer()["handshakes"].as_u64().unwrap_or(0) > handshakes_b && r.peer()["connected"] == true), "re-handshake after the cut: {}\nB log:\n{}", b.peer(), b.log());
    // 3. On the new session: the attack again, now with the earlier sessions' frames
    //    replayed into it; and a connection of our own replaying A's first handshake
    //    message and what followed it.
    proxy.set(Mode::Attack);
    let captured = proxy.captured_from_a();
    // KK message 1: e (32) + tag of the payload (16) + the one-byte feature payload.
    const MSG1: usize = 49;
    let first = captured.iter().position(|f| f.len() == MSG1).expect("A's first handshake message captured");
    let unauth_b = rejected(&b.peer(), "unauthenticated");
    let answer = proxy.inject_connection(&captured[first..(first + 6).min(captured.len())], Duration::from_millis(500));
    assert!(answer.is_some_and(|w| w.len() <= 4 + MSG1), "B answers a replayed handshake with message 2 at most");
    assert!(b.wait(Duration::from_secs(3), |r| rejected(&r.peer(), "unauthenticated") > unauth_b), "replayed handshake refused: {}", b.peer());
    std::thread::sleep(Duration::from_secs(3));
    proxy.set(Mode::Pass);
    eprintln!("proxy: {}", proxy.stats().summary());

    // Both sides saw the attack, counted it, and carried on.
    let (after_a, after_b) = (a.peer(), b.peer());
    eprintln!("A rx_rejected {}\nB rx_rejected {}", after_a["rx_rejected"], after_b["rx_rejected"]);
    for (who, before, after) in [("A", &before_a, &after_a), ("B", &before_b, &after_b)] {
        for what in ["replayed", "tampered", "malformed"] {
            assert!(rejected(after, what) > rejected(before, what), "{} counts {} frames: {} → {}", who, what, before["rx_rejected"], after["rx_rejected"]);
        }
    }
    assert!(b.wait(Duration::from_secs(8), |r| r.peer()["state"] == "in_sync") && a.wait(Duration::from_secs(8), |r| r.peer()["state"] == "in_sync"), "in sync again: A {} B {}", a.peer(), b.peer());
    assert_eq!(snapshot(a), snap_a, "A's config unchanged");
    assert_eq!(snapshot(b), snap_b, "B's config unchanged (v2, not the replayed v1)");
    assert!(lab.a.daemon_alive() && lab.b.daemon_alive(), "both daemons running");

    // The link still works: a real change goes through the same proxy.
    let (a, b) = (&lab.a, &lab.b);
    write_atomic(&a.config("firewall"), &firewall_with("8022"));
    assert!(b.wait(Duration::from_secs(3), |r| fs::read_to_string(r.config("firewall")).unwrap_or_default().contains("'8022'")), "replication after the attack: {}\nB log:\n{}", b.peer(), b.log());
}

/// xorshift64: the fuzz is reproducible from the seed it prints.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn flip(&mut self, f: &mut [u8]) {
        if !f.is_empty() {
            let bit = self.below(f.len() * 8);
            f[bit / 8] ^= 1 << (bit % 8);
        }
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One mutation of a real frame body: bit flips, truncation, extension, or random.
fn mutate(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
    let mut f = body.to_vec();
    match rng.below(5) {
        0 => rng.flip(&mut f),
        1 => {
            for _ in 0..1 + rng.below(8) {
                rng.flip(&mut f);
            }
        }
        2 => f.truncate(1 + rng.below(f.len().max(1))),
        3 => {
            let n = 1 + rng.below(64);
            f.extend(rng.bytes(n));
        }
        _ => {
            let n = 1 + rng.below(300);
            f = rng.bytes(n);
        }
    }
    if f.is_empty() {
        f.push(0);
    }
    f
}

/// A sealed plaintext that is not a valid message: the message type renamed, the
/// chunk flag changed, the JSON cut or bit-flipped.
fn bad_plaintext(rng: &mut Rng, real: &[u8]) -> Vec<u8> {
    let mut p = real.to_vec();
    match rng.below(4) {
        0 => {
            let s = String::from_utf8_lossy(&p[1..]).replacen("heartbeat", ["gossip", "leases", "package", "handover_reply"][rng.below(4)], 1);
            p = [vec![0], s.into_bytes()].concat();
        }
        // With MORE set, the next (valid) heartbeat is glued to this one.
        1 => p[0] = rng.next() as u8 | MORE,
        2 => p.truncate(1 + rng.below(p.len() - 1)),
        _ => {
            let at = 1 + rng.below(p.len() - 1);
            p[at] ^= 1 << rng.below(8);
        }
    }
    p
}

const FRAMES: u64 = 100_000;
const FUZZ_TIME: Duration = Duration::from_secs(55);

#[test]
fn a_hundred_thousand_random_and_mutated_frames_leave_the_daemon_up_with_flat_memory() {
    let Some(mut lab) = Lab::new("z") else { return };
    lab.a.start();
    let a_pub = decode_key(&lab.a.local_key()).unwrap();
    let (b_priv, b_pub) = generate_keypair().unwrap();
    lab.a.set_global("peer_key", &base64_encode(&b_pub));
    assert!(lab.a.wait(Duration::from_secs(3), |r| r.peer()["state"] == "unreachable"));
    let seed = 0x5eed_0000_0000_0001u64 ^ ((std::process::id() as u64) << 20);
    eprintln!("fuzz seed {:#x}", seed);
    let a = &lab.a;
    let snap = snapshot(a);
    let ns_b = lab.b.ns.clone();
    let (sent, took, rss_before, before) = in_netns(&ns_b, || {
        let mut rng = Rng(seed);
        // Real frames to mutate: a first handshake message, A's own frames, our sealed
        // heartbeats; warm the daemon up with one real session first.
        let mut p = FakePeer::connect(&b_priv, &a_pub).expect("handshake");
        p.heartbeat().unwrap();
        assert!(a.wait(Duration::from_secs(2), |r| r.peer()["connected"] == true));
        let _ = p.recv(Duration::from_millis(1500));
        let rss_before = a.vm_rss_kb();
        let before = a.peer();
        let mut from_a = p.captured.clone();
        let (_ini, real_m1) = fake_peer::msg1(&b_priv, &a_pub);
        let hb_plain = p.heartbeat_msg("BACKUP").to_chunks().unwrap().remove(0);
        drop(p);

        let t0 = Instant::now();
        let mut sent = 0u64;
        let mut conns = 0u64;
        let mut unauth_time = Duration::ZERO;
        while sent < FRAMES && t0.elapsed() < FUZZ_TIME {
            conns += 1;
            if conns % 21 != 0 {
                let u0 = Instant::now();
                // Unauthenticated: a mutated first message and a few more frames; wait
                // for A to hang up (≤ 0.3 s) so each one is read, not throttled.
                let Ok(mut s) = TcpStream::connect((A_IP, PORT)) else { continue };
                let mut w = Vec::new();
                for i in 0..8 {
                    let k = rng.below(from_a.len());
                    let base = if i == 0 { &real_m1 } else { &from_a[k] };
                    w.extend(frame::encode(&mutate(&mut rng, base)));
                }
                sent += 8;
                let _ = s.write_all(&w);
                let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
                let _ = std::io::Read::read(&mut s, &mut [0u8; 256]);
                unauth_time += u0.elapsed();
                continue;
            }
            // Authenticated: a real session, then batches of mutated frames with a real
            // heartbeat among them, ended by a bad length field.
            let Some(mut p) = FakePeer::connect(&b_priv, &a_pub) else { continue };
            sent += 1;
            let mut sealed: Vec<Vec<u8>> = Vec::new();
            'batches: for _ in 0..40 {
                let mut w = Vec::new();
                for i in 0..100 {
                    let body = match (i, rng.below(5)) {
                        (0, _) => p.t.seal(&hb_plain).unwrap(),
                        (_, 0) => p.t.seal(&bad_plaintext(&mut rng, &hb_plain)).unwrap(),
                        (_, 1) if !sealed.is_empty() => sealed[rng.below(sealed.len())].clone(),
                        (_, 2) if !sealed.is_empty() => {
                            let k = rng.below(sealed.len());
                            mutate(&mut rng, &sealed[k])
                        }
                        _ => {
                            let k = rng.below(from_a.len());
                            mutate(&mut rng, &from_a[k])
                        }
                    };
                    if sealed.len() < 64 && i % 7 == 0 {
                        sealed.push(body.clone());
                    }
                    w.extend(frame::encode(&body));
                }
                sent += 100;
                if p.stream.write_all(&w).is_err() {
                    break 'batches;
                }
                if let Some(Message::Heartbeat(_)) = p.recv(Duration::from_millis(1)) {
                    from_a.extend(p.captured.drain(..).take(4));
                }
            }
            let bad_len: u32 = match rng.below(3) {
                0 => 0,
                1 => frame::MAX_BODY as u32 + 1 + rng.below(1000) as u32,
                _ => u32::MAX,
            };
            let _ = p.stream.write_all(&bad_len.to_be_bytes());
            sent += 1;
        }
        let took = t0.elapsed();
        eprintln!("unauthenticated connections took {:?}", unauth_time);
        eprintln!("fuzz: {} frames on {} connections in {:?} ({:.0} frames/s)", sent, conns, took, sent as f64 / took.as_secs_f64());
        (sent, took, rss_before, before)
    });
    assert!(sent >= FRAMES, "only {} frames in {:?}", sent, took);
    std::thread::sleep(Duration::from_secs(1));
    assert!(lab.a.daemon_alive(), "daemon alive; log tail:\n{}", lab.a.log().lines().rev().take(20).collect::<Vec<_>>().join("\n"));
    let after = lab.a.peer();
    let rss_after = lab.a.vm_rss_kb();
    eprintln!("daemon VmRSS {} kB before, {} kB after", rss_before, rss_after);
    eprintln!("rx_rejected before {}\nrx_rejected after  {}", before["rx_rejected"], after["rx_rejected"]);
    assert!(rss_before > 0 && rss_after < 2 * rss_before + 1024, "memory flat: {} → {} kB", rss_before, rss_after);
    for what in ["unauthenticated", "tampered", "replayed", "malformed", "oversized"] {
        assert!(rejected(&after, what) > rejected(&before, what), "{} counted: {}", what, after["rx_rejected"]);
    }
    assert_eq!(snapshot(&lab.a), snap, "no config changed");
    // Still the peer's router: a clean session connects.
    in_netns(&ns_b, || {
        let mut p = FakePeer::connect(&b_priv, &a_pub).expect("handshake after the fuzz");
        p.heartbeat().unwrap();
        assert!(lab.a.wait(Duration::from_secs(2), |r| r.peer()["connected"] == true), "{}", lab.a.peer());
    });
}
