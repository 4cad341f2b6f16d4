//! The connection: listen and dial (with backoff), the Noise KK handshake through
//! [`crate::peer::session`], frames in and out (writes bounded by [`WRITE_TIMEOUT`]),
//! the pending/live connection swap, and the `poll(2)` loop that drives the thread.

use super::{Link, DEAD, HANDSHAKES_PER_SEC, HANDSHAKE_TIMEOUT};
use crate::failover::state;
use crate::peer::frame::{self, FrameReader};
use crate::peer::message::{Assembler, Bad, Message};
use crate::peer::session::{self, Initiator, Reject, Transport};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

pub(super) const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(4);
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Reads per socket per wakeup, so one busy socket cannot starve the others.
const READS_PER_WAKE: usize = 32;

pub(super) enum Phase {
    AwaitMsg1,
    AwaitMsg2(Box<Initiator>),
    Up(Box<Transport>),
    Closed,
}

pub(super) struct Conn {
    stream: TcpStream,
    reader: FrameReader,
    phase: Phase,
    opened: Instant,
    last_rx: Instant,
    asm: Assembler,
    /// The peer proved it holds the session keys (a valid frame arrived).
    confirmed: bool,
}

impl Conn {
    fn new(stream: TcpStream, phase: Phase) -> Conn {
        let now = Instant::now();
        Conn { stream, reader: FrameReader::default(), phase, opened: now, last_rx: now, asm: Assembler::default(), confirmed: false }
    }
}

/// Which descriptors `poll` found ready (readable, hung up or in error).
struct Ready {
    wake: bool,
    inotify: bool,
    listener: bool,
    conn: bool,
    pending: bool,
}

/// What reading a connection led to.
enum Outcome {
    Messages(Vec<Message>),
    Close(String),
}

impl Link {
    /// One wakeup. False = stop.
    pub(super) fn step(&mut self) -> bool {
        let ready = self.wait();
        if ready.wake && !self.on_commands() {
            return false;
        }
        if ready.inotify {
            self.on_inotify();
        }
        if ready.listener {
            self.accept();
        }
        if ready.conn {
            self.on_conn_readable();
        }
        if ready.pending {
            self.on_pending_readable();
        }
        self.reap_reloads();
        self.timers();
        true
    }

    /// Milliseconds `poll` may sleep: until the next deadline [`Link::timers`] acts on,
    /// at most a minute.
    fn poll_timeout_ms(&self) -> u32 {
        let now = Instant::now();
        let mut deadline = now + Duration::from_secs(60);
        if let Some(c) = &self.conn {
            if matches!(c.phase, Phase::Up(_)) {
                deadline = deadline.min(self.next_heartbeat).min(c.last_rx + DEAD);
            } else {
                deadline = deadline.min(c.opened + HANDSHAKE_TIMEOUT);
            }
        } else if self.settings.as_ref().is_some_and(|s| s.dial) {
            deadline = deadline.min(self.next_dial);
        }
        if let Some(p) = &self.pending {
            deadline = deadline.min(p.opened + HANDSHAKE_TIMEOUT);
        }
        deadline.saturating_duration_since(now).as_millis().min(60_000) as u32 + 1
    }

    /// Sleep in `poll(2)` on the command pipe, inotify, the listener and the sockets.
    fn wait(&self) -> Ready {
        let ms = self.poll_timeout_ms();
        let mut fds = vec![PollFd::new(self.wake.fd(), PollFlags::POLLIN)];
        let ino_i = self.inotify.as_ref().map(|i| {
            fds.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let lis_i = self.listener.as_ref().map(|l| {
            fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let con_i = self.conn.as_ref().map(|c| {
            fds.push(PollFd::new(c.stream.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let pen_i = self.pending.as_ref().map(|c| {
            fds.push(PollFd::new(c.stream.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        match poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                log::error!("peer link: poll: {}", std::io::Error::from(e));
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let hit = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
        let r = |i: Option<usize>| i.and_then(|i| fds[i].revents()).is_some_and(|r| r.intersects(hit));
        Ready { wake: r(Some(0)), inotify: r(ino_i), listener: r(lis_i), conn: r(con_i), pending: r(pen_i) }
    }

    /// The live connection has something to read (or hung up).
    fn on_conn_readable(&mut self) {
        let Some(mut c) = self.conn.take() else { return };
        match self.read_conn(&mut c) {
            Outcome::Close(why) => {
                if matches!(c.phase, Phase::AwaitMsg2(_)) {
                    // KK: the responder hangs up when our first message does not
                    // decrypt, i.e. one of the two pinned keys is wrong.
                    self.note_error(format!("the peer refused our handshake ({}): it must pin our key {} and our peer_key must be its peer.local_key", why, self.keys.public_b64()));
                }
                self.conn = Some(c);
                self.close_conn(&why);
            }
            Outcome::Messages(ms) => {
                let became_up = matches!(c.phase, Phase::Up(_)) && !self.shared.lock().connected;
                self.conn = Some(c);
                if became_up {
                    self.on_connected();
                }
                for m in ms {
                    self.on_message(m);
                }
            }
        }
    }

    /// The accepted, not yet confirmed connection has something to read.
    fn on_pending_readable(&mut self) {
        let Some(mut p) = self.pending.take() else { return };
        match self.read_conn(&mut p) {
            Outcome::Close(why) => log::debug!("peer link: dropped an incoming connection: {}", why),
            Outcome::Messages(ms) => {
                if p.confirmed {
                    // The peer holds the keys: this is now the link.
                    self.close_conn("peer reconnected");
                    self.conn = Some(p);
                    self.on_connected();
                    for m in ms {
                        self.on_message(m);
                    }
                } else {
                    self.pending = Some(p);
                }
            }
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if self.pending.as_ref().is_some_and(|p| now >= p.opened + HANDSHAKE_TIMEOUT) {
            self.pending = None;
            self.shared.lock().rx_rejected.unauthenticated += 1;
            log::info!("peer link: an incoming connection did not complete the handshake in time");
        }
        let mut close = None;
        if let Some(c) = &self.conn {
            match c.phase {
                Phase::Up(_) if now >= c.last_rx + DEAD => close = Some("peer silent for 3 s"),
                Phase::AwaitMsg1 | Phase::AwaitMsg2(_) if now >= c.opened + HANDSHAKE_TIMEOUT => close = Some("handshake timed out"),
                _ => {}
            }
        }
        if let Some(why) = close {
            self.close_conn(why);
        }
        if self.link_up() && now >= self.next_heartbeat {
            self.send_heartbeat();
        }
        if self.conn.is_none() && now >= self.next_dial {
            if let Some((peer, key)) = self.settings.as_ref().filter(|s| s.dial).map(|s| (s.peer, s.peer_key)) {
                self.dial(peer, &key);
            }
        }
    }

    fn dial(&mut self, peer: SocketAddr, peer_key: &[u8; 32]) {
        self.next_dial = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        let stream = match TcpStream::connect_timeout(&peer, DIAL_TIMEOUT) {
            Ok(st) => st,
            Err(e) => {
                log::debug!("peer link: dialing {}: {}", peer, e);
                return;
            }
        };
        let (ini, m1) = match Initiator::start(&self.keys.private, peer_key) {
            Ok(x) => x,
            Err(e) => return self.note_error(e),
        };
        if let Err(e) = stream.set_nonblocking(true).and_then(|_| stream.set_nodelay(true)) {
            return self.note_error(format!("socket: {}", e));
        }
        let mut c = Conn::new(stream, Phase::AwaitMsg2(Box::new(ini)));
        if let Err(e) = write_all(&mut c.stream, &frame::encode(&m1)) {
            log::debug!("peer link: sending the handshake: {}", e);
            return;
        }
        self.conn = Some(c);
    }

    fn accept(&mut self) {
        let Some(l) = &self.listener else { return };
        let peer_ip = self.settings.as_ref().map(|s| s.peer.ip());
        for _ in 0..16 {
            let (stream, from) = match l.accept() {
                Ok(x) => x,
                Err(_) => return,
            };
            if Some(from.ip()) != peer_ip {
                let n = {
                    let mut v = self.shared.lock();
                    v.rx_rejected.foreign += 1;
                    v.rx_rejected.foreign
                };
                if worth_logging(n) {
                    log::warn!("peer link: refused a connection from {} (not peer_ip; {} so far)", from.ip(), n);
                }
                continue;
            }
            if stream.set_nonblocking(true).and_then(|_| stream.set_nodelay(true)).is_err() {
                continue;
            }
            // One handshake at a time; a newer attempt replaces an older one, which
            // never authenticated and is counted as such, but only so many times a
            // second: a flood from the peer's address must not keep every handshake
            // from finishing, nor turn into unbounded X25519 work.
            if self.pending.is_some() && !self.throttle.allow(Instant::now()) {
                let n = {
                    let mut v = self.shared.lock();
                    v.rx_rejected.throttled += 1;
                    v.rx_rejected.throttled
                };
                if worth_logging(n) {
                    log::warn!("peer link: refused a connection from {}: handshakes arrive faster than {}/s ({} so far)", from.ip(), HANDSHAKES_PER_SEC, n);
                }
                continue;
            }
            if self.pending.replace(Conn::new(stream, Phase::AwaitMsg1)).is_some() {
                self.shared.lock().rx_rejected.unauthenticated += 1;
            }
        }
    }

    fn read_conn(&self, c: &mut Conn) -> Outcome {
        let mut buf = vec![0u8; frame::HEADER + frame::MAX_BODY];
        let mut out = Vec::new();
        for _ in 0..READS_PER_WAKE {
            let want = c.reader.want().min(buf.len());
            let n = match c.stream.read(&mut buf[..want]) {
                Ok(0) => return Outcome::Close("closed by the peer".into()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Outcome::Close(format!("read: {}", e)),
            };
            let frames = match c.reader.push(&buf[..n]) {
                Ok(f) => f,
                Err(m) => {
                    self.shared.lock().rx_rejected.oversized += 1;
                    return Outcome::Close(format!("{}", m));
                }
            };
            for body in frames {
                match self.on_frame(c, &body) {
                    Ok(Some(m)) => out.push(m),
                    Ok(None) => {}
                    Err(why) => return Outcome::Close(why),
                }
            }
        }
        Outcome::Messages(out)
    }

    /// One frame body. `Err` closes the connection.
    fn on_frame(&self, c: &mut Conn, body: &[u8]) -> Result<Option<Message>, String> {
        let Some(s) = &self.settings else { return Err("peer link not configured".into()) };
        match std::mem::replace(&mut c.phase, Phase::Closed) {
            Phase::AwaitMsg1 => match session::respond(&self.keys.private, &s.peer_key, body) {
                Ok((t, m2)) => {
                    write_all(&mut c.stream, &frame::encode(&m2))?;
                    c.phase = Phase::Up(Box::new(t));
                    Ok(None)
                }
                Err(e) => {
                    self.reject_handshake(&e);
                    Err(e.to_string())
                }
            },
            Phase::AwaitMsg2(ini) => match ini.finish(body) {
                Ok(t) => {
                    c.phase = Phase::Up(Box::new(t));
                    c.confirmed = true;
                    c.last_rx = Instant::now();
                    Ok(None)
                }
                Err(e) => {
                    self.reject_handshake(&e);
                    Err(e.to_string())
                }
            },
            Phase::Up(t) => self.on_sealed_frame(c, t, body),
            Phase::Closed => Err("closed".into()),
        }
    }

    /// A transport frame on an established session.
    fn on_sealed_frame(&self, c: &mut Conn, mut t: Box<Transport>, body: &[u8]) -> Result<Option<Message>, String> {
        let r = t.open(body);
        c.phase = Phase::Up(t);
        match r {
            Ok(plain) => {
                c.confirmed = true;
                c.last_rx = Instant::now();
                self.shared.lock().last_seen = Some(state::now_secs());
                match c.asm.push(&plain) {
                    Ok(m) => Ok(m),
                    Err(Bad::Oversized) => {
                        self.shared.lock().rx_rejected.oversized += 1;
                        Ok(None)
                    }
                    Err(Bad::Malformed(e)) => {
                        self.shared.lock().rx_rejected.malformed += 1;
                        log::warn!("peer link: unreadable message: {}", e);
                        Ok(None)
                    }
                }
            }
            Err(e) if !c.confirmed => {
                // A session nobody has proven to own: a replayed first message.
                self.shared.lock().rx_rejected.unauthenticated += 1;
                Err(format!("unconfirmed session: {}", e))
            }
            Err(e) => {
                let n = {
                    let mut v = self.shared.lock();
                    match e {
                        Reject::Replayed => v.rx_rejected.replayed += 1,
                        Reject::Short => v.rx_rejected.malformed += 1,
                        _ => v.rx_rejected.tampered += 1,
                    }
                    v.rx_rejected.total()
                };
                if worth_logging(n) {
                    log::warn!("peer link: dropped a frame: {} ({} rejected so far)", e, n);
                }
                Ok(None)
            }
        }
    }

    fn reject_handshake(&self, e: &Reject) {
        let mut v = self.shared.lock();
        v.rx_rejected.unauthenticated += 1;
        let msg = format!("handshake rejected: {} — check that option peer_key holds the peer's peer.local_key and the peer pins ours ({})", e, v.local_key);
        if worth_logging(v.rx_rejected.unauthenticated) {
            log::warn!("peer link: {} [{} so far]", msg, v.rx_rejected.unauthenticated);
        }
        v.last_error = Some(msg);
    }

    fn on_connected(&mut self) {
        self.backoff = BACKOFF_MIN;
        self.pushed = None;
        let addr = self.conn.as_ref().and_then(|c| c.stream.peer_addr().ok());
        let took = self.conn.as_ref().map(|c| c.opened.elapsed().as_millis() as u64);
        {
            let mut v = self.shared.lock();
            // Dialer: connect → answer; acceptor: accept → first authenticated frame.
            v.handshake_ms = took;
            v.connected = true;
            v.connected_since = Some(state::now_secs());
            v.handshakes += 1;
            v.last_error = None;
        }
        log::info!("peer link up with {}", addr.map_or("?".into(), |a| a.to_string()));
        self.main_wake.wake();
        self.send_heartbeat();
        if self.leading() {
            self.send_leases();
        }
    }

    pub(super) fn close_conn(&mut self, why: &str) {
        let Some(c) = self.conn.take() else { return };
        let _ = c.stream.shutdown(std::net::Shutdown::Both);
        let mut v = self.shared.lock();
        if v.connected {
            log::warn!("peer link down: {}", why);
            v.connected = false;
            v.connected_since = None;
            v.remote = None;
            v.split_brain = None;
            drop(v);
            self.main_wake.wake();
        } else {
            log::debug!("peer link: connection closed: {}", why);
        }
    }

    pub(super) fn reset_endpoints(&mut self) {
        self.close_conn("settings changed");
        self.pending = None;
        self.listener = None;
        let Some(s) = &self.settings else {
            log::info!("peer link off: set peer_ip and option peer_key (the peer's peer.local_key) to enable it");
            return;
        };
        match TcpListener::bind(s.listen).and_then(|l| l.set_nonblocking(true).map(|_| l)) {
            Ok(l) => {
                log::info!("peer link: listening on {} for {}", s.listen, s.peer.ip());
                self.listener = Some(l);
            }
            Err(e) => self.note_error(format!("cannot listen on {}: {}", s.listen, e)),
        }
        self.next_dial = Instant::now();
        self.backoff = BACKOFF_MIN;
    }

    /// The connection is past its handshake: messages can be sent.
    pub(super) fn link_up(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| matches!(c.phase, Phase::Up(_)))
    }

    pub(super) fn send(&mut self, m: &Message) {
        let Some(c) = self.conn.as_mut() else { return };
        let Phase::Up(t) = &mut c.phase else { return };
        let result = m.to_chunks().and_then(|chunks| {
            for p in chunks {
                let body = t.seal(&p)?;
                write_all(&mut c.stream, &frame::encode(&body))?;
            }
            Ok(())
        });
        if let Err(e) = result {
            self.close_conn(&format!("send: {}", e));
        }
    }
}

/// How often a pending handshake may be displaced: at most [`HANDSHAKES_PER_SEC`] times
/// in any one-second window (fixed windows: two bursts can meet at a boundary, which
/// still bounds the rate at twice the figure).
#[derive(Debug)]
pub(super) struct Throttle {
    window: Option<Instant>,
    used: u32,
}

impl Throttle {
    pub(super) const fn new() -> Throttle {
        Throttle { window: None, used: 0 }
    }

    /// May one more handshake displace the pending one at `now`?
    pub(super) fn allow(&mut self, now: Instant) -> bool {
        if self.window.is_none_or(|w| now.saturating_duration_since(w) >= Duration::from_secs(1)) {
            self.window = Some(now);
            self.used = 0;
        }
        self.used += 1;
        self.used <= HANDSHAKES_PER_SEC
    }
}

/// Log the 1st, 2nd, 4th, 8th… rejection: a flood stays visible without filling syslog.
fn worth_logging(n: u64) -> bool {
    n.is_power_of_two()
}

/// Write everything within [`WRITE_TIMEOUT`] on a non-blocking socket.
fn write_all(stream: &mut TcpStream, mut bytes: &[u8]) -> Result<(), String> {
    let until = Instant::now() + WRITE_TIMEOUT;
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err("connection closed".into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err("peer not reading (write timeout)".into());
                }
                let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::try_from(left.as_millis() as u32 + 1).unwrap_or(PollTimeout::MAX));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_connections_displaces_the_pending_handshake_at_most_four_times_a_second() {
        let t0 = Instant::now();
        let mut th = Throttle::new();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let first: Vec<bool> = (0..10).map(|i| th.allow(at(i))).collect();
        assert_eq!(first, [true, true, true, true, false, false, false, false, false, false]);
        // Still the same second: refused; the next second: four more.
        assert!(!th.allow(at(999)));
        let next: Vec<bool> = (0..6).map(|i| th.allow(at(1009 + i))).collect();
        assert_eq!(next, [true, true, true, true, false, false]);
        // A peer reconnecting with the dialer's backoff (≥ 250 ms apart) is never refused.
        let mut th = Throttle::new();
        assert!((0..40).all(|i| th.allow(at(5000 + 250 * i))));
    }
}
