//! What the two nodes tell each other about themselves: the heartbeat (VRRP state,
//! role, priority, config digest, conntrackd counters), split brain seen from both
//! heartbeats, and the handover question (may the peer take over now?).

use super::{Link, HEARTBEAT};
use crate::peer::message::{Heartbeat, Message};
use crate::peer::view::HandoverReply;
use serde_json::Value;
use std::time::{Duration, Instant};

/// `conntrackd -s` costs a process spawn; the peer needs the counters, not each second's.
pub(super) const CONNTRACK_EVERY: Duration = Duration::from_secs(5);
/// A handover question stays open this long (the ubus call gives up after 5 s).
const ASKED_FOR: Duration = Duration::from_secs(10);
const ASKED_MAX: usize = 8;

/// The handover questions we sent and not yet saw answered: (id, when asked). Ids are
/// random (the ubus side draws them), so a peer cannot answer one before it is asked.
#[derive(Debug, Default)]
pub(super) struct Asked([Option<(u64, Instant)>; ASKED_MAX]);

impl Asked {
    /// Open a question in a free (or lapsed) slot, else in place of the oldest.
    pub(super) fn ask(&mut self, id: u64, now: Instant) {
        let open = |s: &Option<(u64, Instant)>| s.is_some_and(|(_, at)| now.saturating_duration_since(at) < ASKED_FOR);
        let i = self.0.iter().position(|s| !open(s)).unwrap_or_else(|| (0..ASKED_MAX).min_by_key(|&i| self.0[i].map(|(_, at)| at)).unwrap_or(0));
        self.0[i] = Some((id, now));
    }

    /// True once for an id asked less than [`ASKED_FOR`] ago; the question is then closed.
    pub(super) fn answer(&mut self, id: u64, now: Instant) -> bool {
        let hit = self.0.iter().position(|s| s.is_some_and(|(x, at)| x == id && now.saturating_duration_since(at) < ASKED_FOR));
        hit.map(|i| self.0[i] = None).is_some()
    }
}

/// Bounded so a hung conntrackd cannot delay a heartbeat past the 3 s budget.
const CONNTRACK_PROBE: Duration = Duration::from_millis(500);

impl Link {
    pub(super) fn send_heartbeat(&mut self) {
        self.next_heartbeat = Instant::now() + HEARTBEAT;
        if self.settings.as_ref().is_some_and(|s| !s.link.files.is_empty()) {
            self.check_files();
        }
        let Some(s) = &self.settings else { return };
        self.seq += 1;
        let (role, priority, maintenance, ha) = (s.role.clone(), s.priority, s.maintenance, Some(s.ha.clone()));
        let local_state = self.local_state();
        // Kept current by inotify (and by our own writes), not re-hashed every second.
        let digest = self.shared.lock().local_digest.clone();
        let conntrack = self.conntrack_counters();
        let (upstream, wan_lease) = {
            let v = self.shared.lock();
            (v.local_upstream.clone(), v.local_wan_lease.as_ref().map(|l| l.to_wire(crate::failover::state::now_secs())))
        };
        let hb = Heartbeat { seq: self.seq, state: local_state.clone(), role, priority, maintenance, config_digest: digest, conntrack, upstream, ha, wan_lease };
        self.shared.lock().local_state = local_state;
        self.send(&Message::Heartbeat(hb));
        self.check_split_brain();
    }

    /// The peer's heartbeat: remember it, re-check split brain, and (leader) push the
    /// replicated packages when its config digest differs from ours.
    pub(super) fn on_heartbeat(&mut self, mut hb: Heartbeat) {
        // Data, not text to show: only the words we know are kept.
        if hb.upstream.as_deref().is_some_and(|u| !crate::peer::message::UPSTREAM_WORDS.contains(&u)) {
            hb.upstream = None;
        }
        if hb.ha.as_deref().is_some_and(|h| h.len() > crate::peer::message::HA_SUMMARY_MAX || !h.bytes().all(|b| b.is_ascii_graphic() || b == b' ')) {
            hb.ha = None;
        }
        if let Some(line) = hb.wan_lease.take() {
            self.keep_peer_lease(&hb.state, &line);
        }
        // Our settings against the peer's (issue 18 §1): a mismatch is an alert before
        // it becomes a split brain. A peer that sends none (older release) is not judged.
        let mismatch = match (&self.settings, hb.ha.as_deref()) {
            (Some(s), Some(theirs)) => crate::model::ha_mismatch(&s.ha, theirs),
            _ => None,
        };
        let changed = {
            let mut v = self.shared.lock();
            let changed = v.ha_mismatch != mismatch;
            v.ha_mismatch = mismatch;
            changed
        };
        if changed {
            self.main_wake.wake();
        }
        let leader_resync = {
            let mut v = self.shared.lock();
            let mismatch = hb.config_digest != v.local_digest;
            v.remote = Some(hb);
            mismatch
        };
        self.check_split_brain();
        self.resync(leader_resync);
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

    pub(super) fn check_split_brain(&mut self) {
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

    pub(super) fn ask_handover(&mut self, id: u64) {
        let up = self.link_up();
        if !up {
            self.shared.lock().push_handover_reply(HandoverReply { id, ready: false, reason: "the peer link is down".into() });
            self.main_wake.wake();
            return;
        }
        let config_digest = self.local_digest();
        self.asked.ask(id, Instant::now());
        self.send(&Message::HandoverQuery { id, config_digest });
    }

    pub(super) fn on_handover_query(&mut self, id: u64, config_digest: &str) {
        let (ready, reason) = self.handover_readiness(config_digest);
        log::info!("peer link: the peer asks to hand over to us: {}", reason);
        // Issue 16: lifted to priority 254 before saying yes, so the peer's resignation
        // that follows makes us master after ~1/256 of an advert interval. keepalived
        // sees the file change at once (inotify); the ubus loop lowers it again.
        if let (true, Some(s)) = (ready, &self.settings) {
            // From where keepalived has us now: maintenance advertises priority 1.
            let boost = 254u8.saturating_sub(if s.maintenance { 1 } else { s.priority });
            match crate::failover::state::replace_quick(&self.paths.boost_file(), format!("{}\n", boost).as_bytes()) {
                Ok(()) => self.shared.lock().boost_since = Some(Instant::now()),
                Err(e) => log::warn!("handover: cannot raise the boost: {}", e),
            }
            // A router in maintenance cannot stay there once it takes over: the ubus
            // loop leaves it (after the takeover, while boosted), so a handover works
            // back and forth. Set after the boost: the loop must see both together.
            if s.maintenance {
                self.shared.lock().leave_maintenance = true;
            }
            self.main_wake.wake();
        }
        self.send(&Message::HandoverReply { id, ready, reason });
    }

    /// Only an answer to a question still open reaches the ubus loop: a reply planted
    /// ahead of a `handover` call (or repeated) would otherwise decide it unasked.
    pub(super) fn on_handover_reply(&mut self, reply: HandoverReply) {
        if !self.asked.answer(reply.id, Instant::now()) {
            let n = {
                let mut v = self.shared.lock();
                v.rx_rejected.unsolicited += 1;
                v.rx_rejected.unsolicited
            };
            if n.is_power_of_two() {
                log::warn!("peer link: dropped a handover reply nobody asked for ({} so far)", n);
            }
            return;
        }
        self.shared.lock().push_handover_reply(reply);
        self.main_wake.wake();
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
        let lease = crate::failover::lease::load(&self.paths, crate::failover::state::now_secs()).is_some();
        (true, format!("in sync: config digests match, no drift, conntrack state held; {}", if lease { "WAN lease cached" } else { "no WAN lease cached" }))
    }

    /// The MASTER peer's WAN lease becomes ours to start from (issue 16), unless we are
    /// MASTER ourselves: then our own lease is the one that counts. Data only: parsed
    /// into addresses and a number of seconds, written to our own fixed path.
    fn keep_peer_lease(&mut self, peer_state: &str, line: &str) {
        if peer_state != "MASTER" || self.local_state() == "MASTER" {
            return;
        }
        let now = crate::failover::state::now_secs();
        let lease = match crate::failover::lease::WanLease::from_wire(line, now) {
            Ok(l) => l,
            Err(e) => {
                // Counted every time, logged when it says something new (once a second
                // otherwise, for as long as the peer keeps sending it).
                let m = format!("the peer's WAN lease is refused: {}", e);
                let mut v = self.shared.lock();
                v.rx_rejected.malformed += 1;
                if v.last_error.as_deref() != Some(m.as_str()) {
                    log::warn!("peer heartbeat: {}", m);
                    v.last_error = Some(m);
                }
                return;
            }
        };
        match crate::failover::lease::store(&self.paths, &lease) {
            Ok(Some(_)) => {
                let m = format!("the peer's WAN lease {}/{} via {} is cached for a takeover", lease.address, lease.prefix, lease.gateway);
                log::info!("{}", m);
                crate::failover::history::append_event(&self.paths, "wan_lease", &m);
            }
            Ok(None) => {}
            Err(e) => log::warn!("cannot keep the peer's WAN lease: {}", e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handover_reply_counts_only_once_and_only_for_a_question_still_open() {
        let t0 = Instant::now();
        let mut a = Asked::default();
        // Nothing asked: any id, including the first ids of a counter, is unsolicited.
        assert!(!a.answer(1, t0) && !a.answer(0, t0));
        a.ask(0x9e37_79b9_7f4a_7c15, t0);
        assert!(!a.answer(0x9e37_79b9_7f4a_7c16, t0), "a neighbouring id is not ours");
        assert!(a.answer(0x9e37_79b9_7f4a_7c15, t0 + Duration::from_secs(1)));
        assert!(!a.answer(0x9e37_79b9_7f4a_7c15, t0 + Duration::from_secs(1)), "a repeated answer is refused");
        // Too late: the question has lapsed.
        a.ask(7, t0);
        assert!(!a.answer(7, t0 + ASKED_FOR));
        // At most eight open at once: the oldest gives way.
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for id in 100..110 {
            a.ask(id, at(id));
        }
        assert!(!a.answer(100, at(200)) && !a.answer(101, at(200)));
        assert!((102..110).all(|id| a.answer(id, at(200))));
    }
}
