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
    if let Err(e) = server.on_event(failover::notify::TRANSITION_EVENT, |d: &mut Daemon, _n, _t| d.transition_seen = true) {
        log::warn!("cannot listen for {}: {}", failover::notify::TRANSITION_EVENT, e);
    }
    if let Err(e) = server.connect() {
        log::warn!("ubusd not reachable yet ({}); will keep trying", e);
    }

    // The VRRP advert watch (split brain, mismatch, VRID collision, fence): the config
    // it judges by, and one raw socket per VIP device. Both follow SIGHUP.
    let mut cfg = crate::model::load(&server.state.paths).ok();
    let mut socks = open_sockets(cfg.as_ref());
    server.state.watch = cfg.as_ref().map(watch::Watch::new);
    adopt_fence(&mut server);
    // Upstream health rounds run on short-lived threads; results come back through
    // `health_done` and wake this loop through `health_wake`.
    let health_wake = match Waker::new() {
        Ok(w) => Arc::new(w),
        Err(e) => {
            log::error!("cannot create the health wake pipe: {}", e);
            return 1;
        }
    };
    // Finished rounds, collected by the loop (a Mutex'd Vec: std's mpsc costs ~10 KB).
    let health_done: Arc<std::sync::Mutex<Vec<super::health::RoundResult>>> = Arc::default();
    server.state.health = cfg.as_ref().map(|c| super::health::Health::new(&c.health));
    adopt_demotion(&mut server);
    // What the hotplug worker calls when a script's result is ready: the same pipe.
    let hotplug_wake: Arc<dyn Fn() + Send + Sync> = {
        let w = health_wake.clone();
        Arc::new(move || w.wake())
    };
    let mut was_master = false;
    loop {
        // keepalived's newest wish, recorded by the notify hook before its plan runs:
        // the watch must know we are MASTER from the first moment, not after the plan.
        let master = match state::read_desired(&server.state.paths) {
            Some(d) => d.state == GroupState::Master,
            None => state::read_current(&server.state.paths).is_some_and(|c| c.state == GroupState::Master),
        };
        if master && !was_master {
            if let Some(c) = &cfg {
                withdraw_peer_routers(&server.state, c);
            }
        }
        was_master = master;
        let boosted = server.state.peer.as_ref().is_some_and(|p| p.shared.lock().boost_since.is_some());
        let busy = master || boosted || server.state.yielding.is_some() || server.state.watch.as_ref().is_some_and(|w| w.busy(Instant::now()));
        let mut timeout = if busy { Some(watch::TICK) } else { None };
        // Wake no later than `d` from now (at least 5 ms on).
        let mut by = |d: std::time::Duration| {
            let d = d.max(std::time::Duration::from_millis(5));
            timeout = Some(timeout.map_or(d, |t| t.min(d)));
        };
        if let Some(due) = server.state.health.as_ref().and_then(|h| h.next_due()) {
            by(due.saturating_duration_since(Instant::now()));
        }
        if let Some(t) = server.state.yielding.as_ref().and_then(|y| y.taken_at) {
            // the settle after the peer's takeover ends on time, not at the next tick
            by(super::maintenance::SETTLE.saturating_sub(t.elapsed()));
        }
        if !server.state.handovers.is_empty() {
            // A handover waits for the peer: wake to give up after its timeout.
            by(HANDOVER_CHECK);
        }
        let ready = {
            let mut fds = vec![hup.fd(), term.fd(), peer_wake.fd()];
            fds.extend(socks.iter().map(|s| s.fd()));
            fds.push(health_wake.fd());
            match server.poll(&fds, timeout) {
                Ok(r) => r,
                Err(e) => {
                    log::error!("poll failed: {}", e);
                    return 1;
                }
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
            if let Ok(new) = crate::model::load(&server.state.paths) {
                if cfg.as_ref().is_none_or(|old| old.vips != new.vips) {
                    socks = open_sockets(Some(&new));
                }
                match &mut server.state.watch {
                    Some(w) => w.reconfigure(&new),
                    None => server.state.watch = Some(watch::Watch::new(&new)),
                }
                match &mut server.state.health {
                    Some(h) => h.reconfigure(&new.health),
                    None => server.state.health = Some(super::health::Health::new(&new.health)),
                }
                cfg = Some(new);
            }
        }
        if let (Some(c), Some(w)) = (&cfg, &mut server.state.watch) {
            let now = Instant::now();
            let own: Vec<std::net::IpAddr> = c.vips.iter().flat_map(|v| &v.interface.addresses).map(|n| n.addr).collect();
            for (i, s) in socks.iter().enumerate() {
                if ready.is_ready(3 + i) {
                    for ad in s.drain() {
                        w.advert(now, &super::adverts::classify(c, &s.device, &ad, &own), &ad, master);
                    }
                }
            }
        }
        if ready.is_ready(2) {
            peer_wake.drain();
            peer_alerts(&mut server);
        }
        if ready.is_ready(3 + socks.len()) {
            health_wake.drain();
        }
        health_tick(&mut server, master, &health_done, &health_wake);
        hotplug_tick(&mut server, &hotplug_wake);
        finish_handovers(&mut server);
        if let Some(c) = &cfg {
            watch_tick(&mut server, c, master);
            lease_tick(&mut server, c, master);
        }
        yield_tick(&mut server);
        leave_maintenance_if_asked(&mut server, master);
        lower_boost(&mut server, master);
    }
}

/// How often a MASTER asks netifd for its WAN lease; the loop ticks every second there.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_millis(900);

/// The MASTER keeps its DHCP WAN's lease (netifd's view of it) in the lease cache and
/// in its heartbeats, for the peer's next takeover (issue 16). A lease other than the
/// one cached is news: the DHCP server did not confirm the address a takeover used.
fn lease_tick(server: &mut Server<Daemon>, cfg: &crate::model::Config, master: bool) {
    let Some(w) = &cfg.wan else { return };
    let d = &mut server.state;
    if !master {
        if let Some(p) = &d.peer {
            p.shared.lock().local_wan_lease = None;
        }
        return;
    }
    let now = Instant::now();
    if d.lease_polled.is_some_and(|t| now < t + LEASE_POLL) {
        return;
    }
    d.lease_polled = Some(now);
    let secs = crate::failover::state::now_secs();
    let object = format!("network.interface.{}", w.logical);
    let status = crate::ubus::client::call_timeout(d.paths.ubus_socket(), &object, "status", &json!({}), std::time::Duration::from_millis(500));
    let lease = status.ok().and_then(|v| v.into_iter().next()).and_then(|v| crate::failover::lease::WanLease::from_netifd(&v, secs));
    if let Some(p) = &d.peer {
        p.shared.lock().local_wan_lease = lease.clone();
    }
    let Some(l) = lease else { return };
    let (kind, m) = match crate::failover::lease::store(&d.paths, &l) {
        Ok(Some(Some(old))) if old.address != l.address => (
            "wan_lease_changed",
            format!("the DHCP server gave {}/{} instead of the cached {}: NATed sessions of the old address are lost", l.address, l.prefix, old.address),
        ),
        Ok(Some(_)) => ("wan_lease", format!("WAN lease {}/{} via {} cached for the peer", l.address, l.prefix, l.gateway)),
        Ok(None) => return,
        Err(e) => return log::warn!("cannot cache the WAN lease: {}", e),
    };
    log::info!("{}", m);
    crate::failover::history::append_event(&d.paths, kind, &m);
    if kind == "wan_lease_changed" {
        announce(server, "muros_ha.wan_lease_changed", json!({ "message": m }));
    }
}

/// Collect finished probe rounds, judge them, act, and start the rounds now due.
fn health_tick(server: &mut Server<Daemon>, master: bool, done: &Arc<std::sync::Mutex<Vec<super::health::RoundResult>>>, wake: &Arc<Waker>) {
    use super::health::{Act, PeerUpstream};
    let Some(h) = server.state.health.as_mut() else { return };
    let finished = std::mem::take(&mut *done.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    for r in &finished {
        h.round_done(r);
    }
    if h.checks.is_empty() {
        return;
    }
    let peer = server.state.peer.as_ref().map_or(PeerUpstream::Unknown, |p| {
        let v = p.shared.lock();
        if v.connected {
            PeerUpstream::from_wire(v.remote.as_ref().and_then(|r| r.upstream.as_deref()))
        } else {
            PeerUpstream::Unknown
        }
    });
    // A yield in progress still reads MASTER: not a new mastership, not a backup yet.
    let now = Instant::now();
    let acts = h.evaluate(master, peer, now, crate::failover::state::now_secs());
    let due = h.due(now);
    for &i in &due {
        h.round_started(i, now);
    }
    let checks: Vec<crate::model::HealthCheck> = due.iter().filter_map(|&i| h.checks.get(i).cloned()).collect();
    let wire = h.wire().map(str::to_string);
    for (i, c) in due.into_iter().zip(checks) {
        let (done, wake) = (done.clone(), wake.clone());
        let spawned = crate::spawn_named(
            "health",
            Box::new(move || {
                let r = super::health::probe_round(i, &c);
                done.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(r);
                wake.wake();
            }),
        );
        if let Err(e) = spawned {
            log::warn!("health: cannot start a probe round: {}", e);
            if let Some(h) = server.state.health.as_mut() {
                h.round_done(&super::health::RoundResult { index: i, ok: true, rtt_ms: None, error: None });
            }
        }
    }
    if let Some(p) = &server.state.peer {
        p.shared.lock().local_upstream = wire;
    }
    for a in acts {
        match a {
            Act::Demote(up, why) => set_demotion(&server.state, up, &why),
            Act::Yield(why) => {
                super::maintenance::yield_now(&mut server.state, &why, false);
            }
            Act::Alert(m) => set_alert(server, "upstream_down", "muros_ha.upstream", m),
            Act::Event(kind, m) => {
                log::warn!("{}: {}", kind, m);
                crate::failover::history::append_event(&server.state.paths, kind, &m);
                announce(server, &format!("muros_ha.{}", kind), json!({ "message": m }));
            }
        }
    }
}

/// Queue the transitions recorded since the last look and the alert changes for the
/// hotplug scripts; record what the scripts did.
fn hotplug_tick(server: &mut Server<Daemon>, wake_fn: &Arc<dyn Fn() + Send + Sync>) {
    let d = &mut server.state;
    if std::mem::take(&mut d.transition_seen) {
        let fresh: Vec<_> = crate::failover::history::read(&d.paths, None).into_iter().filter(|r| r.seq > d.hotplug_seq).collect();
        for r in fresh {
            d.hotplug_seq = r.seq;
            d.hotplug.push(super::hotplug::transition_job(&r), wake_fn.clone());
        }
    }
    for (kind, message) in std::mem::take(&mut d.alerts.changes) {
        d.hotplug.push(super::hotplug::alert_job(&kind, message.as_deref()), wake_fn.clone());
    }
    for line in d.hotplug.take_results() {
        crate::failover::history::append_event(&d.paths, "hotplug", &line);
    }
}

/// keepalived's upstream track file: 1 = priority 1 (see `render::keepalived`).
fn set_demotion(d: &Daemon, up: bool, why: &str) {
    log::warn!("upstream demotion {}: {}", if up { "on" } else { "off" }, why);
    crate::failover::history::append_event(&d.paths, if up { "upstream_demoted" } else { "upstream_demotion_lifted" }, why);
    let bytes: &[u8] = if up { b"1\n" } else { b"0\n" };
    if let Err(e) = crate::failover::state::replace_quick(&d.paths.upstream_file(), bytes) {
        log::error!("cannot write {}: {}", d.paths.upstream_file().display(), e);
    }
}

/// A demotion left by a previous daemon (the file says 1): kept, with a fresh hold.
fn adopt_demotion(server: &mut Server<Daemon>) {
    let up = crate::fsutil::read_to_string(server.state.paths.upstream_file()).is_ok_and(|t| t.trim() == "1");
    if let (true, Some(h)) = (up, &mut server.state.health) {
        log::warn!("upstream demotion found at start: kept until the peer's upstream is healthy or this router is master again");
        h.adopt_demotion(Instant::now(), crate::failover::state::now_secs(), "demoted before this daemon started".into());
    }
}

/// Just became MASTER: withdraw the peer's IPv6 default route from SLAAC clients on
/// every IPv6 VIP's device (see [`super::vrrp_socket::withdraw_peer_router`]).
fn withdraw_peer_routers(d: &Daemon, cfg: &crate::model::Config) {
    let Some(w) = &d.watch else { return };
    for (i, vip) in cfg.vips.iter().enumerate() {
        let Some(std::net::IpAddr::V6(peer)) = w.peer_source(i) else { continue };
        if !peer.is_unicast_link_local() {
            continue;
        }
        match super::vrrp_socket::withdraw_peer_router(&vip.interface.device, peer) {
            Ok(()) => log::info!("withdrew the peer's IPv6 default route on {} (router advertisement with lifetime 0 from {})", vip.interface.device, peer),
            Err(e) => log::warn!("cannot withdraw the peer's IPv6 default route on {}: {}", vip.interface.device, e),
        }
    }
}

fn open_sockets(cfg: Option<&crate::model::Config>) -> Vec<super::vrrp_socket::Socket> {
    let Some(c) = cfg else { return Vec::new() };
    let (socks, errors) = super::vrrp_socket::open(c);
    for e in errors {
        log::warn!("split-brain watch: {} (adverts on it are not watched)", e);
    }
    socks
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
            super::handover::complete(&mut server.state, r.ready, &r.reason)
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

/// Raise or clear the drift alert from the peer thread's view (its split-brain news is
/// read by [`watch_tick`]).
fn peer_alerts(server: &mut Server<Daemon>) {
    let Some((drift, ha)) = server.state.peer.as_ref().map(|p| {
        let v = p.shared.lock();
        (v.drift.clone(), v.ha_mismatch.clone())
    }) else {
        return;
    };
    let ha = ha.map(|m| format!("the two routers' HA settings differ: {} (fix them before they cause a split brain)", m));
    set_alert(server, "settings_mismatch", "muros_ha.settings_mismatch", ha);
    if drift.is_empty() {
        if server.state.alerts.clear("drift") {
            announce(server, "muros_ha.drift", json!({ "active": false }));
        }
    } else {
        let message = format!("replicated config changed locally on this node and differs from the master: {} (not overwritten; revert it or make the change on the master)", drift.join(", "));
        if server.state.alerts.raise("drift", message.clone()) {
            crate::failover::history::append_event(&server.state.paths, "drift", &message);
            announce(server, "muros_ha.drift", json!({ "active": true, "packages": drift, "message": message }));
        }
    }
}

/// The handover boost goes back to 0 once this router is MASTER (it has won), or 10 s
/// after it was raised (the peer never resigned): it must not outlive the handover.
fn lower_boost(server: &mut Server<Daemon>, master: bool) {
    let Some(p) = &server.state.peer else { return };
    let since = p.shared.lock().boost_since;
    let Some(t) = since else { return };
    if !master && t.elapsed() < BOOST_FOR {
        return;
    }
    p.shared.lock().boost_since = None;
    if let Err(e) = crate::failover::state::replace_quick(&server.state.paths.boost_file(), b"0\n") {
        log::error!("handover: cannot lower the boost: {}", e);
    }
}
const BOOST_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// The peer asked to hand over to us while we are in maintenance: leave it, so we can
/// be master again (a handover works back and forth). While the handover boost holds,
/// only once we are master: leaving re-renders and reloads keepalived, and a reload
/// before the takeover restarts the instances' timers (the takeover then waited for a
/// whole master-down interval, ~300 ms at 0.1 s, instead of the boosted skew).
fn leave_maintenance_if_asked(server: &mut Server<Daemon>, master: bool) {
    let asked = server.state.peer.as_ref().is_some_and(|p| {
        let mut v = p.shared.lock();
        let wait = v.boost_since.is_some() && !master;
        v.leave_maintenance && !wait && std::mem::take(&mut v.leave_maintenance)
    });
    if !asked {
        return;
    }
    log::info!("handover: the peer hands over to us; leaving maintenance");
    if let Err(e) = super::maintenance::set_flag(&server.state, false).and_then(|()| apply::apply(&server.state, false).map(|_| ())) {
        log::error!("cannot leave maintenance for the peer's handover: {}", e);
    }
}

/// A fence left by a previous daemon (the file says 1): keep it, and let the watch
/// decide when to lift it, as for its own.
fn adopt_fence(server: &mut Server<Daemon>) {
    let up = crate::fsutil::read_to_string(server.state.paths.fence_file()).is_ok_and(|t| t.trim() != "0" && !t.trim().is_empty());
    if let (true, Some(w)) = (up, &mut server.state.watch) {
        let reason = crate::fsutil::read_to_string(server.state.paths.fence_reason()).map(|r| r.trim().to_string()).unwrap_or_else(|_| "fenced before this daemon started".into());
        log::warn!("fence found up at start: {}", reason);
        w.fence = Some(watch::Fence { since: crate::failover::state::now_secs(), reason: reason.clone(), by_link: false });
        server.state.alerts.raise("fenced", reason);
    }
}

/// Judge what the watch saw; raise/lift the fence; keep the alerts in step.
fn watch_tick(server: &mut Server<Daemon>, cfg: &crate::model::Config, master: bool) {
    let (link, link_split) = server.state.peer.as_ref().map_or((watch::LinkView::default(), None), |p| {
        let v = p.shared.lock();
        let remote = v.remote.as_ref();
        (watch::LinkView { connected: v.connected, peer_master: remote.is_some_and(|r| r.state == "MASTER"), peer_priority: remote.map(|r| r.priority) }, v.split_brain.clone())
    });
    let Some(w) = server.state.watch.as_mut() else { return };
    let f = w.evaluate(cfg, Instant::now(), crate::failover::state::now_secs(), master, &link);
    if let Some(reason) = &f.raise_fence {
        set_fence(server, true, reason);
        announce(server, "muros_ha.fence", json!({ "active": true, "reason": reason }));
    }
    if let Some(why) = &f.lift_fence {
        set_fence(server, false, why);
        announce(server, "muros_ha.fence", json!({ "active": false, "reason": why }));
    }
    let split = f.split_brain.clone().or(link_split);
    let fenced = server.state.watch.as_ref().is_some_and(|w| w.fence.is_some());
    watch::Episode::track(&mut server.state.last_split, split.as_deref(), fenced && f.raise_fence.is_some(), crate::failover::state::now_secs());
    set_alert(server, "split_brain", "muros_ha.split_brain", split);
    set_alert(server, "vrrp_mismatch", "muros_ha.vrrp_mismatch", f.mismatch);
    set_alert(server, "vrid_collision", "muros_ha.vrid_collision", f.collision);
}

/// Raise or lift the split-brain fence: the `fenced` alert, then the track file.
fn set_fence(server: &mut Server<Daemon>, up: bool, reason: &str) {
    crate::failover::history::append_event(&server.state.paths, if up { "fence" } else { "fence_lifted" }, reason);
    if up {
        log::warn!("FENCE UP: {}", reason);
        server.state.alerts.raise("fenced", format!("{} (VIPs released, WAN down, services stopped until then)", reason));
    } else {
        log::warn!("fence lifted: {}", reason);
        server.state.alerts.clear("fenced");
    }
    sync_fault_file(&server.state, reason);
}

/// keepalived's track file holds 1 while the fence or a maintenance yield wants every
/// instance in FAULT, else 0; the reason line goes beside it for the hook's history.
/// A write that fails is logged; the next change writes again.
pub(super) fn sync_fault_file(d: &Daemon, reason: &str) {
    let paths = &d.paths;
    let fence = d.watch.as_ref().and_then(|w| w.fence.as_ref()).map(|f| f.reason.clone());
    let want = fence.or_else(|| d.yielding.as_ref().map(|y| y.reason.clone()));
    if let Some(why) = &want {
        if let Err(e) = crate::failover::state::replace_quick(&paths.fence_reason(), format!("{}\n", why).as_bytes()) {
            log::warn!("fence reason: {}", e);
        }
    }
    let bytes: &[u8] = if want.is_some() { b"1\n" } else { b"0\n" };
    if let Err(e) = crate::failover::state::replace_quick(&paths.fence_file(), bytes) {
        log::error!("cannot write {} ({}): {}", paths.fence_file().display(), reason, e);
    }
}

/// A maintenance yield in progress: end it once the peer advertises as MASTER (its
/// adverts accepted), or give up after [`YIELD_MAX`] and let VRRP decide, loudly.
fn yield_tick(server: &mut Server<Daemon>) {
    let d = &mut server.state;
    let Some(y) = d.yielding.as_mut() else { return };
    let ms = |t: Instant| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX);
    if y.taken_at.is_none() && d.watch.as_ref().is_some_and(|w| w.peer_took_over(y.since)) {
        y.taken_at = Some(Instant::now());
        log::info!("maintenance: the peer took over {} ms after this router yielded", ms(y.since));
        d.alerts.clear("handover_failed");
    }
    let settled = y.taken_at.is_some_and(|t| !y.apply_after || t.elapsed() >= super::maintenance::SETTLE);
    let late = y.taken_at.is_none() && y.since.elapsed() > super::maintenance::YIELD_MAX;
    if !settled && !late {
        return;
    }
    let apply_after = y.apply_after;
    if late {
        let m = format!("maintenance: the peer did not take over within {} ms of this router yielding; VRRP decides again (is the peer up and in BACKUP?)", ms(y.since));
        log::warn!("{}", m);
        d.alerts.raise("handover_failed", m);
    }
    d.yielding = None;
    if apply_after {
        match apply::apply(d, false) {
            Ok(v) => log::info!("maintenance applied: valid={} changed={}", v["valid"], v["changed"]),
            Err(e) => log::error!("maintenance: apply failed: {}", e),
        }
    }
    sync_fault_file(d, "yield over");
}

/// Raise (with the newest message) or clear one alert, with its event on each change.
fn set_alert(server: &mut Server<Daemon>, kind: &str, event: &str, message: Option<String>) {
    match message {
        Some(m) => {
            if server.state.alerts.raise(kind, m.clone()) {
                crate::failover::history::append_event(&server.state.paths, kind, &m);
                announce(server, event, json!({ "active": true, "message": m }));
            }
        }
        None => {
            if server.state.alerts.clear(kind) {
                announce(server, event, json!({ "active": false }));
            }
        }
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
