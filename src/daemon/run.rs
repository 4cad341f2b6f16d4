//! The daemon's event loop.
//!
//! Sleeps in `poll(2)` on the ubus socket and a signal self-pipe. SIGHUP re-reads the
//! config and re-applies it; SIGTERM/SIGINT end the loop cleanly. While this node is
//! MASTER a 1 s tick drives the split-brain watch; otherwise there is no timer at all.

use super::{apply, watch, Daemon};
use crate::failover::{self, state, GroupState};
use crate::paths::Paths;
use crate::ubus::{json::to_table, Server};
use serde_json::json;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Instant;

/// What `muros-ha daemon` was given.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub paths: Paths,
    pub socket: std::path::PathBuf,
    pub hook_binary: String,
    pub verify: bool,
    /// Skip `converge` at start (tests that have no keepalived).
    pub no_converge: bool,
}

/// One self-pipe per signal kind, so the loop knows which one arrived.
struct SignalPipe {
    read: UnixStream,
}

impl SignalPipe {
    fn new(signals: &[i32]) -> std::io::Result<SignalPipe> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        for &s in signals {
            signal_hook::low_level::pipe::register(s, write.try_clone()?)?;
        }
        Ok(SignalPipe { read })
    }
    fn drain(&mut self) {
        let mut buf = [0u8; 64];
        while matches!(self.read.read(&mut buf), Ok(n) if n > 0) {}
    }
}

pub fn run(opts: RunOptions) -> i32 {
    crate::logging::init(crate::logging::choose_sink(opts.paths.is_system_root()), log::LevelFilter::Info);
    let (mut hup, mut term) = match (SignalPipe::new(&[SIGHUP]), SignalPipe::new(&[SIGTERM, SIGINT])) {
        (Ok(h), Ok(t)) => (h, t),
        (Err(e), _) | (_, Err(e)) => {
            log::error!("cannot install signal handlers: {}", e);
            return 1;
        }
    };
    let daemon = Daemon::new(opts.paths.clone(), opts.hook_binary.clone(), opts.verify);
    log::info!("muros-ha {} daemon starting (root {}, ubus {})", crate::VERSION, opts.paths.root().display(), opts.socket.display());

    if !opts.no_converge {
        // A hook killed mid-plan or a keepalived restarted by procd (pitfall 8) leaves
        // the node half way; the plans are idempotent, so re-running converges.
        match failover::converge(&opts.paths) {
            Ok(o) => log::info!("converge at start: {}", o),
            Err(e) => log::warn!("converge at start failed: {}", e),
        }
    }

    let mut server = Server::new(&opts.socket, daemon);
    if let Err(e) = server.add_object(super::object()) {
        log::error!("cannot set up the ubus object: {}", e);
        return 1;
    }
    // A transition (from our own notify hook) may start or stop the split-brain watch;
    // the handler only has to wake the loop, which re-reads the state file.
    if let Err(e) = server.on_event(failover::notify::TRANSITION_EVENT, |_d: &mut Daemon, _n, _t| {}) {
        log::warn!("cannot listen for {}: {}", failover::notify::TRANSITION_EVENT, e);
    }
    if let Err(e) = server.connect() {
        log::warn!("ubusd not reachable yet ({}); will keep trying", e);
    }

    loop {
        let master = state::read_current(&server.state.paths).is_some_and(|c| c.state == GroupState::Master);
        if !master {
            server.state.watch.reset();
            if server.state.alerts.clear("split_brain") {
                announce(&mut server, "muros_ha.split_brain", json!({ "active": false }));
            }
        }
        let timeout = if master { Some(watch::TICK) } else { None };
        let ready = match server.poll(&[hup.read.as_fd(), term.read.as_fd()], timeout) {
            Ok(r) => r,
            Err(e) => {
                log::error!("poll failed: {}", e);
                return 1;
            }
        };
        if ready.is_ready(1) {
            term.drain();
            log::info!("terminating on signal");
            return 0;
        }
        if ready.is_ready(0) {
            hup.drain();
            log::info!("SIGHUP: re-reading configuration");
            match apply::apply(&server.state, false) {
                Ok(v) => log::info!("SIGHUP apply: valid={} changed={}", v["valid"], v["changed"]),
                Err(e) => log::error!("SIGHUP apply failed: {}", e),
            }
        }
        if master {
            split_brain_tick(&mut server);
        }
    }
}

fn split_brain_tick(server: &mut Server<Daemon>) {
    let counters = match watch::read_counters() {
        Ok(c) => c,
        Err(e) => {
            log::debug!("split-brain watch: {}", e);
            return;
        }
    };
    let split = server.state.watch.observe(Instant::now(), &counters);
    if split.is_empty() {
        if server.state.alerts.clear("split_brain") {
            announce(server, "muros_ha.split_brain", json!({ "active": false }));
        }
        return;
    }
    let message = format!(
        "both routers are MASTER: the peer keeps advertising on {} while this node holds the VIPs; \
         each side rejects the other's adverts (check that password, auth_type, vrrp_version and VRIDs match) \
         or our adverts do not reach the peer",
        split.join(", ")
    );
    if server.state.alerts.raise("split_brain", message.clone()) {
        announce(server, "muros_ha.split_brain", json!({ "active": true, "instances": split, "message": message }));
    }
}

fn announce(server: &mut Server<Daemon>, event: &str, data: serde_json::Value) {
    match to_table(&data) {
        Ok(t) => {
            if let Err(e) = server.send_event(event, t) {
                log::warn!("cannot send {}: {}", event, e);
            }
        }
        Err(e) => log::warn!("cannot encode {}: {}", event, e),
    }
}
