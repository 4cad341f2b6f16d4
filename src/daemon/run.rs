//! The daemon's event loop.
//!
//! Sleeps in `poll(2)` on the ubus socket and two signal self-pipes (signal-hook). SIGHUP re-reads the
//! config and re-applies it; SIGTERM/SIGINT end the loop cleanly. While this node is
//! MASTER a 1 s tick drives the split-brain watch; otherwise there is no timer at all.
//! The peer link (src/peer) runs in its own thread and wakes this loop through a third
//! pipe when its split-brain, drift or handover news changes.

use super::{apply, watch, Daemon};
use crate::failover::{self, state, GroupState};
use crate::paths::Paths;
use crate::ubus::{json::to_table, Server};
use serde_json::json;
use crate::ubus::Waker;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::ffi::c_int;
use std::sync::Arc;
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

/// A self-pipe that signal-hook writes a byte into when one of `signals` arrives (its
/// handler does nothing else, so it is async-signal-safe): the loop's poll(2) wakes and
/// knows which kind it was. The write end is non-blocking; a full pipe already says
/// "arrived".
fn signal_pipe(signals: &[c_int]) -> Result<Waker, String> {
    let pipe = Waker::new().map_err(|e| e.to_string())?;
    for &s in signals {
        let write = pipe.write_fd().try_clone_to_owned().map_err(|e| format!("signal pipe: {}", e))?;
        signal_hook::low_level::pipe::register(s, write).map_err(|e| format!("signal {}: {}", s, e))?;
    }
    Ok(pipe)
}

pub fn run(opts: RunOptions) -> i32 {
    crate::logging::init(crate::logging::choose_sink(opts.paths.is_system_root()), log::LevelFilter::Info);
    let (hup, term) = match (signal_pipe(&[SIGHUP]), signal_pipe(&[SIGTERM, SIGINT])) {
        (Ok(h), Ok(t)) => (h, t),
        (Err(e), _) | (_, Err(e)) => {
            log::error!("cannot install signal handlers: {}", e);
            return 1;
        }
    };
    let mut daemon = Daemon::new(opts.paths.clone(), opts.hook_binary.clone(), opts.verify);
    // peer branch: the peer link runs in its own thread (see src/peer/mod.rs for why) and
    // wakes this loop through `peer_wake` when split brain, drift or the link changes.
    let peer_wake = match Waker::new() {
        Ok(w) => Arc::new(w),
        Err(e) => {
            log::error!("cannot create the peer wake pipe: {}", e);
            return 1;
        }
    };
    match crate::peer::link::start(opts.paths.clone(), peer_wake.clone()) {
        Ok(h) => daemon.peer = Some(h),
        Err(e) => log::error!("peer link disabled: {}", e),
    }
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

    // Whether the VRRP counter watch currently sees split brain (the peer link is the
    // other witness; the alert clears only when neither does).
    let mut vrrp_split = false;
    loop {
        let master = state::read_current(&server.state.paths).is_some_and(|c| c.state == GroupState::Master);
        if !master {
            server.state.watch.reset();
            vrrp_split = false;
            if server.state.alerts.clear("split_brain") {
                announce(&mut server, "muros_ha.split_brain", json!({ "active": false }));
            }
        }
        let mut timeout = if master { Some(watch::TICK) } else { None };
        if !server.state.handovers.is_empty() {
            // A handover waits for the peer: wake to give up after its timeout.
            timeout = Some(timeout.map_or(HANDOVER_CHECK, |t| t.min(HANDOVER_CHECK)));
        }
        let ready = match server.poll(&[hup.fd(), term.fd(), peer_wake.fd()], timeout) {
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
            if let Some(p) = &server.state.peer {
                p.send(crate::peer::link::Command::Reload);
            }
        }
        if ready.is_ready(2) {
            peer_wake.drain();
            peer_alerts(&mut server, vrrp_split);
        }
        finish_handovers(&mut server);
        if master {
            vrrp_split = split_brain_tick(&mut server);
        }
    }
}

const HANDOVER_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// Answer `handover` calls whose peer reply arrived or whose time ran out.
fn finish_handovers(server: &mut Server<Daemon>) {
    if server.state.handovers.is_empty() {
        return;
    }
    let replies = server.state.peer.as_ref().map(|p| std::mem::take(&mut p.shared.lock().handover_replies)).unwrap_or_default();
    let pending = std::mem::take(&mut server.state.handovers);
    for h in pending {
        let result = if let Some(r) = replies.iter().find(|r| r.id == h.id) {
            super::handover::complete(&server.state, r.ready, &r.reason)
        } else if h.asked.elapsed() > super::handover::ANSWER_TIMEOUT {
            Err(super::internal("the peer did not answer the handover request in time"))
        } else {
            server.state.handovers.push(h);
            continue;
        };
        if let Err(e) = server.reply_deferred(h.reply, result) {
            log::warn!("cannot answer handover: {}", e);
        }
    }
}

/// Raise or clear the peer link's alerts (split brain seen over heartbeats, config
/// drift) from the thread's view. The split-brain alert stays while VRRP still sees it.
fn peer_alerts(server: &mut Server<Daemon>, vrrp_split: bool) {
    let Some((split, drift)) = server.state.peer.as_ref().map(|p| {
        let v = p.shared.lock();
        (v.split_brain.clone(), v.drift.clone())
    }) else {
        return;
    };
    match split {
        Some(message) if server.state.alerts.raise("split_brain", message.clone()) => {
            announce(server, "muros_ha.split_brain", json!({ "active": true, "source": "peer", "message": message }));
        }
        None if !vrrp_split && server.state.alerts.clear("split_brain") => {
            announce(server, "muros_ha.split_brain", json!({ "active": false }));
        }
        _ => {}
    }
    if drift.is_empty() {
        if server.state.alerts.clear("drift") {
            announce(server, "muros_ha.drift", json!({ "active": false }));
        }
    } else {
        let message = format!("replicated config changed locally on this node and differs from the master: {} (not overwritten; revert it or make the change on the master)", drift.join(", "));
        if server.state.alerts.raise("drift", message.clone()) {
            announce(server, "muros_ha.drift", json!({ "active": true, "packages": drift, "message": message }));
        }
    }
}

/// The VRRP counter watch; returns whether it sees split brain now.
fn split_brain_tick(server: &mut Server<Daemon>) -> bool {
    let counters = match watch::read_counters() {
        Ok(c) => c,
        Err(e) => {
            log::debug!("split-brain watch: {}", e);
            return false;
        }
    };
    let split = server.state.watch.observe(Instant::now(), &counters);
    let peer_split = server.state.peer.as_ref().is_some_and(|p| p.shared.lock().split_brain.is_some());
    if split.is_empty() {
        if !peer_split && server.state.alerts.clear("split_brain") {
            announce(server, "muros_ha.split_brain", json!({ "active": false }));
        }
        return false;
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
    true
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
