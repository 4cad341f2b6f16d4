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
//!
//! # Layout
//!
//! One `Link` (the thread's state), one `impl Link` block per concern:
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`start`], [`Handle`] and its command queue, settings from the config, the `Link` state, message dispatch |
//! | `transport.rs` | listen/dial with backoff, the KK handshake, frames, write timeout, pending → live swap, the `poll(2)` loop |
//! | `heartbeat.rs` | heartbeats (with conntrackd counters), split brain, the handover question |
//! | `replication.rs` | inotify, replicated package push/merge/apply, drift, the replica file |
//! | `leases.rs` | the DHCP lease file: leader sends, follower writes |
//! | `reload.rs` | service reloads after replication, one worker thread at a time |

use super::keys::KeyPair;
use super::message::Message;
use super::view::{HandoverReply, Shared};
use crate::failover::state;
use serde_json::Value;
use crate::model::peer::PeerLink;
use crate::paths::Paths;
use crate::ubus::Waker;
use replication::Applied;
use transport::{Conn, Throttle, BACKOFF_MIN};
use nix::sys::inotify::Inotify;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod files;
mod heartbeat;
mod leases;
mod reload;
mod replication;
mod transport;

pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// No authenticated frame for this long = the peer is gone (3 missed heartbeats).
pub const DEAD: Duration = Duration::from_secs(3);
/// An accepted connection must finish the handshake and send its first authenticated
/// frame within this; a dialed one must get the answer. KK costs a few X25519 per side
/// (~10 ms each on a 600 MHz MIPS): 2 s is a generous ceiling that still frees the
/// slot quickly.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// How many times a second a new connection from `peer_ip` may replace the pending
/// handshake; more are refused (`rx_rejected.throttled`). The dialer's backoff starts at
/// 250 ms, so a real peer stays below it.
pub const HANDSHAKES_PER_SEC: u32 = 4;

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
    let thread = crate::spawn_named("peer", Box::new(move || link.run())).map_err(|e| format!("starting the peer thread: {}", e))?;
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
    /// [`crate::model::Config::ha_summary`]: sent in the heartbeat, compared with the peer's.
    ha: String,
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
        ha: cfg.ha_summary(),
        link,
    }))
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
    throttle: Throttle,
    backoff: Duration,
    next_dial: Instant,
    next_heartbeat: Instant,
    seq: u64,
    inotify: Option<Inotify>,
    /// Which directory each inotify watch is (events dispatch on it, not on names alone).
    watches: replication::Watches,
    /// Leader: the digest pushed on this connection (resync once per mismatch).
    pushed: Option<String>,
    /// Follower: package → digest of what we last wrote from the peer (persisted).
    applied: Applied,
    /// conntrackd counters for the heartbeat, refreshed at most every [`heartbeat::CONNTRACK_EVERY`].
    conntrack: Option<Value>,
    conntrack_at: Option<Instant>,
    /// Handover questions sent and not yet answered.
    asked: heartbeat::Asked,
    /// Service reloads after replication, run by a worker thread.
    reloads: reload::Reloads,
    /// `replicate_file` digests as last looked at (`files::check_files`).
    files_seen: Vec<(String, String)>,
}

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
            throttle: Throttle::new(),
            backoff: BACKOFF_MIN,
            next_dial: now,
            next_heartbeat: now,
            seq: 0,
            inotify: None,
            watches: replication::Watches::default(),
            pushed: None,
            applied,
            conntrack: None,
            conntrack_at: None,
            asked: heartbeat::Asked::default(),
            reloads: reload::Reloads::default(),
            files_seen: Vec::new(),
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

    /// The wake pipe fired: run the queued commands. False = stop.
    fn on_commands(&mut self) -> bool {
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
        true
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

    fn note_error(&self, e: String) {
        log::warn!("peer link: {}", e);
        self.shared.lock().last_error = Some(e);
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

    fn on_message(&mut self, m: Message) {
        match m {
            Message::Heartbeat(hb) => self.on_heartbeat(hb),
            Message::Package { name, text } => self.apply_package(&name, &text),
            Message::Leases { text } => self.apply_leases(&text),
            Message::HandoverQuery { id, config_digest } => self.on_handover_query(id, &config_digest),
            Message::HandoverReply { id, ready, reason } => self.on_handover_reply(HandoverReply { id, ready, reason }),
            Message::File { path, mode, uid, gid, data } => self.apply_file(&path, mode, uid, gid, &data),
        }
    }
}

