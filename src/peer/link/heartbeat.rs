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
/// Bounded so a hung conntrackd cannot delay a heartbeat past the 3 s budget.
const CONNTRACK_PROBE: Duration = Duration::from_millis(500);

impl Link {
    pub(super) fn send_heartbeat(&mut self) {
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

    /// The peer's heartbeat: remember it, re-check split brain, and (leader) push the
    /// replicated packages when its config digest differs from ours.
    pub(super) fn on_heartbeat(&mut self, hb: Heartbeat) {
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
        self.send(&Message::HandoverQuery { id, config_digest });
    }

    pub(super) fn on_handover_query(&mut self, id: u64, config_digest: &str) {
        let (ready, reason) = self.handover_readiness(config_digest);
        log::info!("peer link: the peer asks to hand over to us: {}", reason);
        self.send(&Message::HandoverReply { id, ready, reason });
    }

    pub(super) fn on_handover_reply(&mut self, reply: HandoverReply) {
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
        (true, "in sync: config digests match, no drift, conntrack state held".into())
    }
}
