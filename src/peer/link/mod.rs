//! The peer thread: one TCP connection to the other router, authenticated with Noise KK.
//!
//! The node with the lower sync address dials, the other accepts (both listen, so a
//! restarted dialer is taken back at once). An accepted connection stays *pending* until
//! its first valid transport frame: KK's first message can be replayed by anyone who
//! captured it, so only a peer that holds the session keys may replace the live link.
//!
//! Every second each side sends a heartbeat; 3 s of silence closes the link and the
//! dialer retries with backoff (0.25 s doubling to 4 s). The thread sleeps in `poll(2)`
//! on its command pipe, inotify (config dir, state dir, lease dir), the listener and the
//! sockets; files are never polled by timer.

use super::frame::{self, FrameReader};
use super::keys::KeyPair;
use super::message::{Assembler, Bad, Heartbeat, Message};
use super::session::{self, Initiator, Reject, Transport};
use super::view::Shared;
use crate::failover::state;
use serde_json::Value;
use crate::model::peer::PeerLink;
use crate::paths::Paths;
use crate::ubus::Waker;
use replication::Applied;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::Inotify;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod leases;
mod replication;

pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// No authenticated frame for this long = the peer is gone (3 missed heartbeats).
pub const DEAD: Duration = Duration::from_secs(3);
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(4);
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Reads per socket per wakeup, so one busy socket cannot starve the others.
const READS_PER_WAKE: usize = 32;
pub enum Command {
    /// Re-read the configuration (SIGHUP).
    Reload,
    /// Ask the peer whether it is ready to take over (answer in `view.handover_replies`).
    Handover { id: u64 },
    Stop,
}

/// The ubus loop's handle on the thread.
pub struct Handle {
    pub shared: Shared,
    tx: Queue,
    wake: Arc<Waker>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Handle {
    pub fn send(&self, c: Command) {
        // A full queue (8) already holds a Reload/Stop; dropping one more is harmless.
        let _ = self.tx.lock().unwrap_or_else(|e| e.into_inner()).push_back(c);
        self.wake.wake();
    }
}

/// The commands to the thread: a bounded FIFO shared by the two sides (heapless: the
/// bound is the type's, `push_back` refuses beyond it). The sender is gone once the
/// thread holds the only reference.
type Queue = Arc<std::sync::Mutex<heapless::Deque<Command, QUEUE_MAX>>>;
const QUEUE_MAX: usize = 8;

enum Next {
    Got(Command),
    Empty,
    Disconnected,
}

fn try_recv(q: &Queue) -> Next {
    match q.lock().unwrap_or_else(|e| e.into_inner()).pop_front() {
        Some(c) => Next::Got(c),
        None if Arc::strong_count(q) == 1 => Next::Disconnected,
        None => Next::Empty,
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            // Err: the thread panicked (tests only: release aborts); it is gone either way.
            let _ = t.join();
        }
    }
}

/// Load (or create) the key pair and start the thread. `main_wake` is woken when an
/// alert-worthy fact (split brain, drift, link up/down) changes.
pub fn start(paths: Paths, main_wake: Arc<Waker>) -> Result<Handle, String> {
    let keys = super::keys::load_or_generate(&paths)?;
    let shared = Shared::default();
    shared.lock().local_key = keys.public_b64();
    let wake = Arc::new(Waker::new().map_err(|e| format!("peer wake pipe: {}", e))?);
    let tx: Queue = Arc::default();
    let rx = tx.clone();
    let mut link = Link::new(paths, shared.clone(), main_wake, rx, wake.clone(), keys);
    let thread = std::thread::Builder::new().name("peer".into()).spawn(move || link.run()).map_err(|e| format!("starting the peer thread: {}", e))?;
    Ok(Handle { shared, tx, wake, thread: Some(thread) })
}

#[derive(Debug, Clone, PartialEq)]
struct Settings {
    listen: SocketAddr,
    peer: SocketAddr,
    peer_key: [u8; 32],
    dial: bool,
    role: String,
    priority: u8,
    maintenance: bool,
    link: PeerLink,
}

fn settings(paths: &Paths) -> Result<Option<Settings>, String> {
    let cfg = crate::model::load(paths).map_err(|e| format!("configuration invalid ({} errors)", e.len()))?;
    let link = crate::model::load_peer(paths)?;
    let (Some(local), Some(peer_ip), Some(peer_key)) = (cfg.sync.local_address, cfg.sync.peer_ip, link.key) else {
        return Ok(None);
    };
    let local = IpAddr::V4(local);
    Ok(Some(Settings {
        listen: SocketAddr::new(local, link.port),
        peer: SocketAddr::new(peer_ip, link.port),
        peer_key,
        dial: local < peer_ip,
        role: cfg.role.as_str().to_string(),
        priority: cfg.effective_priority(),
        maintenance: cfg.maintenance,
        link,
    }))
}

enum Phase {
    AwaitMsg1,
    AwaitMsg2(Box<Initiator>),
    Up(Box<Transport>),
    Closed,
}

struct Conn {
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

/// What reading a connection led to.
enum Outcome {
    Messages(Vec<Message>),
    Close(String),
}

struct Link {
    paths: Paths,
    shared: Shared,
    main_wake: Arc<Waker>,
    rx: Queue,
    wake: Arc<Waker>,
    keys: KeyPair,
    settings: Option<Settings>,
    listener: Option<TcpListener>,
    conn: Option<Conn>,
    pending: Option<Conn>,
    backoff: Duration,
    next_dial: Instant,
    next_heartbeat: Instant,
    seq: u64,
    inotify: Option<Inotify>,
    /// Leader: the digest pushed on this connection (resync once per mismatch).
    pushed: Option<String>,
    /// Follower: package → digest of what we last wrote from the peer (persisted).
    applied: Applied,
    /// conntrackd counters for the heartbeat, refreshed at most every [`CONNTRACK_EVERY`].
    conntrack: Option<Value>,
    conntrack_at: Option<Instant>,
}

/// `conntrackd -s` costs a process spawn; the peer needs the counters, not each second's.
const CONNTRACK_EVERY: Duration = Duration::from_secs(5);
/// Bounded so a hung conntrackd cannot delay a heartbeat past the 3 s budget.
const CONNTRACK_PROBE: Duration = Duration::from_millis(500);

impl Link {
    fn new(paths: Paths, shared: Shared, main_wake: Arc<Waker>, rx: Queue, wake: Arc<Waker>, keys: KeyPair) -> Link {
        let applied = replication::load_applied(&paths);
        let now = Instant::now();
        Link {
            paths,
            shared,
            main_wake,
            rx,
            wake,
            keys,
            settings: None,
            listener: None,
            conn: None,
            pending: None,
            backoff: BACKOFF_MIN,
            next_dial: now,
            next_heartbeat: now,
            seq: 0,
            inotify: None,
            pushed: None,
            applied,
            conntrack: None,
            conntrack_at: None,
        }
    }

    fn run(&mut self) {
        self.setup_inotify();
        self.reload();
        loop {
            if !self.step() {
                return;
            }
        }
    }

    fn reload(&mut self) {
        match settings(&self.paths) {
            Ok(s) => {
                if s != self.settings {
                    let endpoint_changed = s.as_ref().map(|x| (x.listen, x.peer, x.peer_key)) != self.settings.as_ref().map(|x| (x.listen, x.peer, x.peer_key));
                    self.settings = s;
                    if endpoint_changed {
                        self.reset_endpoints();
                    }
                }
            }
            Err(e) => log::warn!("peer link: keeping the previous settings: {}", e),
        }
        let mut v = self.shared.lock();
        v.configured = self.settings.is_some();
        v.local_digest = self.local_digest();
    }

    fn reset_endpoints(&mut self) {
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
    fn link_up(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| matches!(c.phase, Phase::Up(_)))
    }

    fn note_error(&self, e: String) {
        log::warn!("peer link: {}", e);
        self.shared.lock().last_error = Some(e);
    }

    /// One wakeup. False = stop.
    fn step(&mut self) -> bool {
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
        let ms = deadline.saturating_duration_since(now).as_millis().min(60_000) as u32 + 1;

        let (wake_ready, ino_ready, listen_ready, conn_ready, pending_ready) = {
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
            (r(Some(0)), r(ino_i), r(lis_i), r(con_i), r(pen_i))
        };

        if wake_ready {
            self.wake.drain();
            for _ in 0..16 {
                match try_recv(&self.rx) {
                    Next::Got(Command::Reload) => self.reload(),
                    Next::Got(Command::Handover { id }) => self.ask_handover(id),
                    Next::Got(Command::Stop) | Next::Disconnected => {
                        self.close_conn("daemon stopping");
                        return false;
                    }
                    Next::Empty => break,
                }
            }
        }
        if ino_ready {
            self.on_inotify();
        }
        if listen_ready {
            self.accept();
        }
        if conn_ready {
            if let Some(mut c) = self.conn.take() {
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
        }
        if pending_ready {
            if let Some(mut p) = self.pending.take() {
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
        }
        self.timers();
        true
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
            // never authenticated and is counted as such.
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
            Phase::Up(mut t) => {
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
            Phase::Closed => Err("closed".into()),
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

    fn close_conn(&mut self, why: &str) {
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

    fn local_state(&self) -> String {
        state::read_current(&self.paths).map_or("UNKNOWN".into(), |c| c.state.to_string())
    }

    /// This node is the source of replicated config: VRRP MASTER, or — before keepalived
    /// has said anything — configured as master.
    fn leading(&self) -> bool {
        match state::read_current(&self.paths) {
            Some(c) => c.state == crate::failover::GroupState::Master,
            None => self.settings.as_ref().is_some_and(|s| s.role == "master"),
        }
    }

    fn send(&mut self, m: &Message) {
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

    fn send_heartbeat(&mut self) {
        self.next_heartbeat = Instant::now() + HEARTBEAT;
        let Some(s) = &self.settings else { return };
        self.seq += 1;
        let (role, priority, maintenance) = (s.role.clone(), s.priority, s.maintenance);
        let local_state = self.local_state();
        // Kept current by inotify (and by our own writes), not re-hashed every second.
        let digest = self.shared.lock().local_digest.clone();
        let conntrack = self.conntrack_counters();
        let hb = Heartbeat { seq: self.seq, state: local_state.clone(), role, priority, maintenance, config_digest: digest, conntrack };
        self.shared.lock().local_state = local_state;
        self.send(&Message::Heartbeat(hb));
        self.check_split_brain();
    }

    fn conntrack_counters(&mut self) -> Option<Value> {
        use crate::failover::System;
        if self.conntrack_at.is_some_and(|t| t.elapsed() < CONNTRACK_EVERY) {
            return self.conntrack.clone();
        }
        self.conntrack_at = Some(Instant::now());
        let sock = crate::failover::system::conntrackd_socket(&self.paths);
        self.conntrack = if crate::failover::RealSystem::new(self.paths.ubus_socket()).socket_alive(&sock) {
            let argv = ["conntrackd".to_string(), "-C".into(), self.paths.conntrackd_conf().display().to_string(), "-s".into()];
            crate::proc::run_capture(&argv, CONNTRACK_PROBE).ok().map(|t| crate::failover::system::conntrackd_stats(&t))
        } else {
            None
        };
        self.conntrack.clone()
    }

    fn check_split_brain(&mut self) {
        let mut v = self.shared.lock();
        let both = v.connected && v.local_state == "MASTER" && v.remote.as_ref().is_some_and(|r| r.state == "MASTER");
        let changed = both != v.split_brain.is_some();
        v.split_brain = both.then(|| {
            "both routers are MASTER (seen over the peer link): VRRP adverts do not get through between them — check the firewall on the VIP interfaces and that password, auth_type, vrrp_version and VRIDs match".to_string()
        });
        drop(v);
        if changed {
            self.main_wake.wake();
        }
    }

    fn on_message(&mut self, m: Message) {
        match m {
            Message::Heartbeat(hb) => {
                let leader_resync = {
                    let mut v = self.shared.lock();
                    let mismatch = hb.config_digest != v.local_digest;
                    v.remote = Some(hb);
                    mismatch
                };
                self.check_split_brain();
                let digest = self.shared.lock().local_digest.clone();
                if leader_resync && self.leading() && self.pushed.as_deref() != Some(digest.as_str()) {
                    self.pushed = Some(digest);
                    let names = self.settings.as_ref().map(|s| s.link.replicate.clone()).unwrap_or_default();
                    for n in names {
                        self.push_package(&n);
                    }
                }
            }
            Message::Package { name, text } => self.apply_package(&name, &text),
            Message::Leases { text } => self.apply_leases(&text),
            Message::HandoverQuery { id, config_digest } => {
                let (ready, reason) = self.handover_readiness(&config_digest);
                log::info!("peer link: the peer asks to hand over to us: {}", reason);
                self.send(&Message::HandoverReply { id, ready, reason });
            }
            Message::HandoverReply { id, ready, reason } => {
                self.shared.lock().push_handover_reply(super::view::HandoverReply { id, ready, reason });
                self.main_wake.wake();
            }
        }
    }

    fn ask_handover(&mut self, id: u64) {
        let up = self.link_up();
        if !up {
            self.shared.lock().push_handover_reply(super::view::HandoverReply { id, ready: false, reason: "the peer link is down".into() });
            self.main_wake.wake();
            return;
        }
        let config_digest = self.local_digest();
        self.send(&Message::HandoverQuery { id, config_digest });
    }

    /// Can this node take over now? Same replicated config, no drift, and conntrackd
    /// up (it holds the flows the master bulk-sent) when this node runs one.
    fn handover_readiness(&self, their_digest: &str) -> (bool, String) {
        use crate::failover::System;
        let v = self.shared.lock();
        if !v.drift.is_empty() {
            return (false, format!("config drift on the peer: {}", v.drift.join(", ")));
        }
        drop(v);
        if self.local_digest() != their_digest {
            return (false, "replicated config differs (digests do not match)".into());
        }
        if self.paths.conntrackd_conf().is_file() {
            let sock = crate::failover::system::conntrackd_socket(&self.paths);
            if !crate::failover::RealSystem::new(self.paths.ubus_socket()).socket_alive(&sock) {
                return (false, "conntrackd is not running on the peer: flows would be lost".into());
            }
        }
        (true, "in sync: config digests match, no drift, conntrack state held".into())
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
