//! The peer link's crypto, ours (`muros_ha::peer::session`: our KK state machine over
//! x25519-dalek, chacha20poly1305, blake2, hmac) against `snow` (the same primitives
//! behind its generic resolver; a dev-dependency here), side by side
//! in one run: a whole KK handshake (both sides) and one heartbeat-sized transport frame
//! sealed and opened. Prints figures; asserts only that both sides agree.
//!
//!   cargo run --release --example noise_bench [ROUNDS]
//!
//! Both use curve25519-dalek for X25519; the difference is the state machine around it.

use muros_ha::peer::session;
use std::time::{Duration, Instant};

const PATTERN: &str = "Noise_KK_25519_ChaChaPoly_BLAKE2s";
const PROLOGUE: &[u8] = b"muros-ha peer v1";
/// A heartbeat message is ~200 bytes of JSON.
const FRAME: usize = 200;

#[path = "bench_support/mod.rs"]
mod bench_support;
use bench_support::median;

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ours(rounds: usize) -> (Duration, Duration) {
    let (a_priv, a_pub) = session::generate_keypair().expect("keys");
    let (b_priv, b_pub) = session::generate_keypair().expect("keys");
    let mut hs = Vec::with_capacity(rounds);
    let mut frames = Vec::with_capacity(rounds);
    let payload = vec![0x5au8; FRAME];
    for _ in 0..rounds {
        let t = Instant::now();
        let (ini, m1) = session::Initiator::start(&a_priv, &b_pub).expect("m1");
        let (mut resp, m2) = session::respond(&b_priv, &a_pub, &m1).expect("m2");
        let mut ini = ini.finish(&m2).expect("finish");
        hs.push(t.elapsed());
        let t = Instant::now();
        let f = ini.seal(&payload).expect("seal");
        let back = resp.open(&f).expect("open");
        frames.push(t.elapsed());
        assert_eq!(back, payload);
    }
    (median(hs), median(frames))
}

fn theirs(rounds: usize) -> (Duration, Duration) {
    let params: snow::params::NoiseParams = PATTERN.parse().expect("params");
    let a = snow::Builder::new(params.clone()).generate_keypair().expect("keys");
    let b = snow::Builder::new(params.clone()).generate_keypair().expect("keys");
    let mut hs = Vec::with_capacity(rounds);
    let mut frames = Vec::with_capacity(rounds);
    let payload = vec![0x5au8; FRAME];
    let mut buf = vec![0u8; 65535];
    let mut out = vec![0u8; 65535];
    for n in 0..rounds as u64 {
        let t = Instant::now();
        let mut ini = snow::Builder::new(params.clone())
            .prologue(PROLOGUE)
            .and_then(|x| x.local_private_key(&a.private))
            .and_then(|x| x.remote_public_key(&b.public))
            .and_then(|x| x.build_initiator())
            .expect("initiator");
        let mut resp = snow::Builder::new(params.clone())
            .prologue(PROLOGUE)
            .and_then(|x| x.local_private_key(&b.private))
            .and_then(|x| x.remote_public_key(&a.public))
            .and_then(|x| x.build_responder())
            .expect("responder");
        let l1 = ini.write_message(&[], &mut buf).expect("m1");
        resp.read_message(&buf[..l1], &mut out).expect("read m1");
        let l2 = resp.write_message(&[], &mut buf).expect("m2");
        ini.read_message(&buf[..l2], &mut out).expect("read m2");
        let ini = ini.into_stateless_transport_mode().expect("ini transport");
        let resp = resp.into_stateless_transport_mode().expect("resp transport");
        hs.push(t.elapsed());
        let t = Instant::now();
        let l = ini.write_message(n, &payload, &mut buf).expect("seal");
        let m = resp.read_message(n, &buf[..l], &mut out).expect("open");
        frames.push(t.elapsed());
        assert_eq!(&out[..m], &payload[..]);
    }
    (median(hs), median(frames))
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200).clamp(1, 100_000);
    // Interleave so both see the same machine load.
    let (mut oh, mut of, mut th, mut tf) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let (h, f) = ours(rounds / 5 + 1);
        oh.push(h);
        of.push(f);
        let (h, f) = theirs(rounds / 5 + 1);
        th.push(h);
        tf.push(f);
    }
    let (oh, of, th, tf) = (median(oh), median(of), median(th), median(tf));
    println!("{} rounds, medians, both built with the release profile (opt-level z, LTO):", rounds);
    println!("{:<44} {:>14} {:>14} {:>8}", "", "muros-ha", "snow", "ratio");
    println!("{:<44} {:>14} {:>14} {:>7.1}x", "KK handshake, both sides", us(oh), us(th), oh.as_secs_f64() / th.as_secs_f64());
    println!("{:<44} {:>14} {:>14} {:>7.1}x", format!("{} B frame: seal + open", FRAME), us(of), us(tf), of.as_secs_f64() / tf.as_secs_f64());
}
