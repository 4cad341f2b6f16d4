//! What the peer thread knows, shared with the ubus loop (`status.peer`, alerts).

use super::message::Heartbeat;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard};

/// Frames dropped, by reason (`status.peer.rx_rejected`, one member per field; keys
/// sorted there, as `status` is a `Value`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// Handshakes (or unconfirmed sessions) that do not authenticate with the pinned keys.
    pub unauthenticated: u64,
    /// Connections from an address other than `peer_ip`.
    pub foreign: u64,
    /// Transport frames whose nonce was already used.
    pub replayed: u64,
    /// Transport frames failing the AEAD check (flipped bits, wrong session).
    pub tampered: u64,
    /// Length prefix beyond the frame limit, or a message beyond the reassembly limit.
    pub oversized: u64,
    /// Authenticated but unreadable (bad JSON, empty frame).
    pub malformed: u64,
    /// Connections from `peer_ip` refused because handshakes came in faster than
    /// [`crate::peer::link::HANDSHAKES_PER_SEC`] would let them displace the pending one.
    pub throttled: u64,
    /// Handover replies that answer no question we have pending (wrong or stale id).
    pub unsolicited: u64,
}

impl Rejected {
    pub fn total(&self) -> u64 {
        self.unauthenticated + self.foreign + self.replayed + self.tampered + self.oversized + self.malformed + self.throttled + self.unsolicited
    }
}

#[derive(Debug, Clone, Default)]
pub struct PeerView {
    /// `peer_key` and `peer_ip` are set and the link runs.
    pub configured: bool,
    pub local_key: String,
    pub connected: bool,
    pub connected_since: Option<u64>,
    /// Unix seconds of the last authenticated frame.
    pub last_seen: Option<u64>,
    pub remote: Option<Heartbeat>,
    pub local_state: String,
    /// This router's upstream health word for the heartbeat (`daemon::health`).
    pub local_upstream: Option<String>,
    /// This router's WAN lease while MASTER (`daemon::run::lease_tick`).
    pub local_wan_lease: Option<crate::failover::lease::WanLease>,
    pub local_digest: String,
    pub rx_rejected: Rejected,
    pub handshakes: u64,
    pub handshake_ms: Option<u64>,
    pub last_error: Option<String>,
    /// Set while both nodes are MASTER (from heartbeats).
    pub split_brain: Option<String>,
    /// Replicated packages changed locally on the following node.
    pub drift: Vec<String>,
    /// Our HA settings differ from the peer's heartbeat (`model::ha_mismatch`).
    pub ha_mismatch: Option<String>,
    /// Packages applied from the peer since start.
    pub applied: u64,
    pub last_applied: Option<u64>,
    pub leases_received: u64,
    /// Lease lines from the peer dropped as malformed since start.
    pub leases_dropped: u64,
    /// Items of replicated packages the peer sent and this node refused (`pkg.section`
    /// or `pkg.section.option`), as of the last package received.
    pub refused: Vec<String>,
    /// The peer asked to hand over to us while we are in maintenance: the ubus loop
    /// leaves maintenance (and clears this).
    pub leave_maintenance: bool,
    /// When the handover boost was raised for the peer's handover (the ubus loop lowers
    /// it once we are MASTER, or after 10 s).
    pub boost_since: Option<std::time::Instant>,
    /// Answers to our handover questions, for the ubus loop (at most 8 kept).
    pub handover_replies: Vec<HandoverReply>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoverReply {
    pub id: u64,
    pub ready: bool,
    pub reason: String,
}

impl PeerView {
    pub fn push_handover_reply(&mut self, r: HandoverReply) {
        if self.handover_replies.len() >= 8 {
            self.handover_replies.remove(0);
        }
        self.handover_replies.push(r);
    }
}

impl PeerView {
    pub fn state(&self) -> &'static str {
        if !self.configured {
            "unknown"
        } else if !self.connected {
            "unreachable"
        } else if !self.drift.is_empty() || self.remote.as_ref().is_some_and(|r| r.config_digest != self.local_digest) {
            "drift"
        } else if self.remote.is_some() {
            "in_sync"
        } else {
            "unknown"
        }
    }

    pub fn to_json(&self) -> Value {
        let r = self.remote.as_ref();
        json!({
            "state": self.state(),
            "connected": self.connected,
            "connected_since": self.connected_since,
            "role": r.map(|h| h.role.clone()),
            "vrrp_state": r.map(|h| h.state.clone()),
            "last_seen": self.last_seen,
            "priority": r.map(|h| h.priority),
            "maintenance": r.map(|h| h.maintenance),
            "config_digest_match": r.map(|h| h.config_digest == self.local_digest),
            "conntrack": r.and_then(|h| h.conntrack.clone()),
            "local_key": self.local_key,
            "local_digest": self.local_digest,
            "rx_rejected": self.rx_rejected,
            "handshakes": self.handshakes,
            "handshake_ms": self.handshake_ms,
            "last_error": self.last_error,
            "split_brain": self.split_brain.is_some(),
            "drift": self.drift,
            "applied": self.applied,
            "last_applied": self.last_applied,
            "leases_received": self.leases_received,
            "leases_dropped": self.leases_dropped,
            "refused": self.refused,
            "upstream": r.and_then(|h| h.upstream.clone()),
            "settings_match": r.and_then(|h| h.ha.as_ref()).map(|_| self.ha_mismatch.is_none()),
        })
    }
}

/// The shared handle; a poisoned lock still yields the data (a panic elsewhere must not
/// take status down with it).
#[derive(Debug, Clone, Default)]
pub struct Shared(Arc<Mutex<PeerView>>);

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, PeerView> {
        match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `status.peer` as the previous release reported it (plus `leases_dropped` and
    /// `refused`): keys sorted, `null` for what is not known, counters as integers.
    #[test]
    fn status_peer_has_the_previous_fields_and_types() {
        let mut v = PeerView { configured: true, connected: true, local_key: "k".into(), local_digest: "d".into(), ..Default::default() };
        assert_eq!(
            v.to_json().to_string(),
            r#"{"applied":0,"config_digest_match":null,"connected":true,"connected_since":null,"conntrack":null,"drift":[],"handshake_ms":null,"handshakes":0,"last_applied":null,"last_error":null,"last_seen":null,"leases_dropped":0,"leases_received":0,"local_digest":"d","local_key":"k","maintenance":null,"priority":null,"refused":[],"role":null,"rx_rejected":{"foreign":0,"malformed":0,"oversized":0,"replayed":0,"tampered":0,"throttled":0,"unauthenticated":0,"unsolicited":0},"settings_match":null,"split_brain":false,"state":"unknown","upstream":null,"vrrp_state":null}"#
        );
        v.remote = Some(Heartbeat { seq: 1, state: "BACKUP".into(), role: "backup".into(), priority: 100, maintenance: true, config_digest: "d".into(), conntrack: None, upstream: None, ha: None, wan_lease: None });
        v.connected_since = Some(1764150000);
        v.handshake_ms = Some(3);
        v.last_error = Some("refused".into());
        v.split_brain = Some("both".into());
        v.drift = vec!["firewall".into()];
        v.rx_rejected.tampered = 2;
        assert_eq!(
            v.to_json().to_string(),
            r#"{"applied":0,"config_digest_match":true,"connected":true,"connected_since":1764150000,"conntrack":null,"drift":["firewall"],"handshake_ms":3,"handshakes":0,"last_applied":null,"last_error":"refused","last_seen":null,"leases_dropped":0,"leases_received":0,"local_digest":"d","local_key":"k","maintenance":true,"priority":100,"refused":[],"role":"backup","rx_rejected":{"foreign":0,"malformed":0,"oversized":0,"replayed":0,"tampered":2,"throttled":0,"unauthenticated":0,"unsolicited":0},"settings_match":null,"split_brain":true,"state":"drift","upstream":null,"vrrp_state":"BACKUP"}"#
        );
    }
}
