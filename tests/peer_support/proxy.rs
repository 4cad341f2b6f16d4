//! A man in the middle on the sync link. In router A's namespace an nft rule redirects
//! A's dial to B (198.18.0.2:3781) to this proxy (port 3782), which connects on to B
//! from A's address (its own socket carries mark 0x2a, which the rule lets through), so
//! both daemons talk through it without knowing. It forwards whole frames and, while
//! told to, replays, reorders, truncates and flips bits of them. Every thread stops on
//! `Drop` (flag + 100 ms read timeouts); the nft table goes with the namespace.

use super::{sh, B_IP};
use muros_ha::peer::frame::{self, FrameReader};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const PROXY_PORT: u16 = 3782;
const MARK: u32 = 0x2a;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forward every frame unchanged (and remember it).
    Pass = 0,
    /// Forward every frame, and around them inject replays (of this and of earlier
    /// sessions), reorder neighbours, and send truncated and bit-flipped copies.
    Attack = 1,
    /// Forward half of the next frame from A, then cut both connections.
    Cut = 2,
}

/// What the proxy did, per kind.
#[derive(Default)]
pub struct Stats {
    pub conns: AtomicU64,
    pub forwarded: AtomicU64,
    pub replayed: AtomicU64,
    pub reordered: AtomicU64,
    pub flipped: AtomicU64,
    pub truncated: AtomicU64,
    pub cuts: AtomicU64,
}

impl Stats {
    pub fn summary(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "conns {} forwarded {} replayed {} reordered {} flipped {} truncated {} cuts {}",
            g(&self.conns),
            g(&self.forwarded),
            g(&self.replayed),
            g(&self.reordered),
            g(&self.flipped),
            g(&self.truncated),
            g(&self.cuts)
        )
    }
}

struct Shared {
    stop: AtomicBool,
    mode: AtomicU8,
    stats: Stats,
    /// Frame bodies seen from A to B, in order, all sessions (at most 4096 kept): the
    /// material for replays, including the first handshake message of each session.
    from_a: Mutex<Vec<Vec<u8>>>,
    from_b: Mutex<Vec<Vec<u8>>>,
}

pub struct Proxy {
    shared: Arc<Shared>,
    ns: String,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Redirect A's connections to B through the proxy; listen in A's namespace.
    pub fn start(ns_a: &str) -> Proxy {
        let rules = format!(
            "table ip mitm {{\n chain out {{\n  type nat hook output priority -100; policy accept;\n  meta mark {MARK} return\n  ip daddr {B_IP} tcp dport 3781 redirect to :{PROXY_PORT}\n }}\n}}\n"
        );
        let file = std::env::temp_dir().join(format!("mitm-{}.nft", ns_a));
        std::fs::write(&file, rules).unwrap();
        sh(&["ip", "netns", "exec", ns_a, "nft", "-f", file.to_str().unwrap()]);
        let _ = std::fs::remove_file(&file);
        let shared = Arc::new(Shared { stop: AtomicBool::new(false), mode: AtomicU8::new(0), stats: Stats::default(), from_a: Mutex::default(), from_b: Mutex::default() });
        let (sh2, path) = (shared.clone(), format!("/var/run/netns/{}", ns_a));
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let l = TcpListener::bind(("0.0.0.0", PROXY_PORT)).unwrap();
            l.set_nonblocking(true).unwrap();
            tx.send(()).unwrap();
            accept_loop(l, sh2);
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("proxy listening");
        Proxy { shared, ns: ns_a.to_string(), thread: Some(thread) }
    }

    pub fn set(&self, m: Mode) {
        self.shared.mode.store(m as u8, Ordering::SeqCst);
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// The frames A sent so far (handshake messages included).
    pub fn captured_from_a(&self) -> Vec<Vec<u8>> {
        self.shared.from_a.lock().unwrap().clone()
    }

    /// Open a connection of our own to B from A's address and send `frames` on it
    /// (a replayed handshake and what followed it), then wait `linger` and close.
    pub fn inject_connection(&self, frames: &[Vec<u8>], linger: Duration) -> Option<Vec<u8>> {
        let ns = self.ns.clone();
        let frames = frames.to_vec();
        super::in_netns(&ns, move || {
            let mut s = dial_b().ok()?;
            for f in &frames {
                // B hangs up at the first frame it cannot open: later writes may fail.
                if s.write_all(&frame::encode(f)).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            s.set_read_timeout(Some(linger)).ok()?;
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            let until = Instant::now() + linger;
            while Instant::now() < until {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            Some(got)
        })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A TCP connection to B's daemon carrying the mark the redirect rule lets through.
fn dial_b() -> std::io::Result<TcpStream> {
    use nix::sys::socket::{connect, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::Mark, &MARK)?;
    let ip: std::net::Ipv4Addr = B_IP.parse().unwrap();
    connect(fd.as_raw_fd(), &SockaddrIn::from(std::net::SocketAddrV4::new(ip, 3781)))?;
    Ok(TcpStream::from(fd))
}

fn accept_loop(l: TcpListener, sh: Arc<Shared>) {
    let mut pumps: Vec<JoinHandle<()>> = Vec::new();
    // Bounded: at most an hour, and by the stop flag checked every 20 ms.
    let until = Instant::now() + Duration::from_secs(3600);
    while !sh.stop.load(Ordering::SeqCst) && Instant::now() < until {
        match l.accept() {
            Ok((a, _)) => {
                let Ok(b) = dial_b() else { continue };
                sh.stats.conns.fetch_add(1, Ordering::Relaxed);
                for (src, dst, from_a) in [(a.try_clone().unwrap(), b.try_clone().unwrap(), true), (b, a, false)] {
                    let sh = sh.clone();
                    pumps.push(std::thread::spawn(move || pump(src, dst, from_a, sh)));
                }
                pumps.retain(|p| !p.is_finished());
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    for p in pumps {
        let _ = p.join();
    }
}

/// Copy frames from `src` to `dst`, attacking them as the mode says.
fn pump(mut src: TcpStream, mut dst: TcpStream, from_a: bool, sh: Arc<Shared>) {
    src.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    dst.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut reader = FrameReader::default();
    let mut buf = vec![0u8; 70000];
    let mut held: Option<Vec<u8>> = None;
    let mut n_frame = 0u64;
    let mut seed = 0x2545_f491_4f6c_dd1du64 ^ (from_a as u64);
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let st = &sh.stats;
    let log = if from_a { &sh.from_a } else { &sh.from_b };
    while !sh.stop.load(Ordering::SeqCst) {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        let Ok(frames) = reader.push(&buf[..n]) else { break };
        for body in frames {
            n_frame += 1;
            let mode = sh.mode.load(Ordering::SeqCst);
            let mut out: Vec<Vec<u8>> = Vec::new();
            if mode == Mode::Cut as u8 && from_a {
                // Half a frame, then nothing: B's reader is left mid-frame.
                let mut w = frame::encode(&body);
                w.truncate(4 + body.len() / 2);
                let _ = dst.write_all(&w);
                st.cuts.fetch_add(1, Ordering::Relaxed);
                sh.mode.store(Mode::Pass as u8, Ordering::SeqCst);
                let _ = src.shutdown(Shutdown::Both);
                let _ = dst.shutdown(Shutdown::Both);
                return;
            }
            // The handshake and the first transport frame pass: a session nobody has
            // confirmed yet is dropped at its first bad frame, by design.
            if mode == Mode::Attack as u8 && n_frame > 2 {
                let past = log.lock().unwrap().clone();
                let mut f = body.clone();
                let bit = (rnd() % (f.len() as u64 * 8)) as usize;
                f[bit / 8] ^= 1 << (bit % 8);
                out.push(f);
                st.flipped.fetch_add(1, Ordering::Relaxed);
                // Truncated copies, length fixed up: short of a tag, and half a frame.
                out.push(body[..body.len().min(10)].to_vec());
                out.push(body[..body.len() / 2].to_vec());
                st.truncated.fetch_add(2, Ordering::Relaxed);
                if n_frame % 3 == 0 {
                    // Reorder: this frame waits behind the next one (and is then stale).
                    held = Some(body.clone());
                } else {
                    out.push(body.clone());
                    if let Some(h) = held.take() {
                        out.push(h);
                        st.reordered.fetch_add(1, Ordering::Relaxed);
                    }
                    // Replays: this very frame, and one from any time before,
                    // maybe from an earlier session.
                    out.push(body.clone());
                    if !past.is_empty() {
                        out.push(past[(rnd() % past.len() as u64) as usize].clone());
                    }
                    st.replayed.fetch_add(2, Ordering::Relaxed);
                }
            } else {
                out.extend(held.take());
                out.push(body.clone());
            }
            {
                let mut l = log.lock().unwrap();
                if l.len() < 4096 {
                    l.push(body);
                }
            }
            let mut wire = Vec::new();
            for f in out.iter().filter(|f| !f.is_empty()) {
                wire.extend(frame::encode(f));
            }
            if dst.write_all(&wire).is_err() {
                let _ = src.shutdown(Shutdown::Both);
                return;
            }
            st.forwarded.fetch_add(1, Ordering::Relaxed);
        }
    }
    let _ = dst.shutdown(Shutdown::Both);
}
