//! `ubus call muros_ha handover` — planned handover to the peer (peer branch).
//!
//! Asks the peer over the authenticated link whether it can take over (same replicated
//! config, no drift, conntrackd holding the flows). Only on "yes" does this node enter
//! maintenance — the same persistent flag as `maintenance {"enable": true}` — so the
//! peer, with preempt, wins the next VRRP election. The reply is deferred until the peer
//! answers (or [`ANSWER_TIMEOUT`] passes); the ubus loop completes it.

use super::{apply, internal, maintenance, Daemon};
use crate::peer::link::Command;
use crate::ubus::{reply_json, Arg, Deferred, MethodError, Reply, Request, Status};
use serde_json::json;
use std::time::{Duration, Instant};

pub const POLICY: &[Arg] = &[];
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// A handover waiting for the peer's answer.
pub struct Pending {
    pub id: u64,
    pub reply: Deferred,
    pub asked: Instant,
}

pub fn call(d: &mut Daemon, req: &Request<'_>) -> Reply {
    let Some(peer) = &d.peer else {
        return Err(MethodError::new(Status::NotFound, "the peer link is not running (see status.peer)"));
    };
    if !peer.shared.lock().connected {
        return Err(MethodError::new(Status::NotFound, "the peer is unreachable over the peer link; refusing a blind handover"));
    }
    // Random, not a counter: the peer thread accepts only the answer to an id it sent,
    // and a peer cannot answer in advance what it cannot guess.
    let mut b = [0u8; 8];
    crate::peer::noise::random(&mut b).map_err(internal)?;
    let id = u64::from_le_bytes(b);
    peer.send(Command::Handover { id });
    d.handovers.push(Pending { id, reply: req.defer(), asked: Instant::now() });
    Ok(None)
}

/// The reply for a pending handover once the peer answered.
pub fn complete(d: &mut Daemon, ready: bool, reason: &str) -> Reply {
    if !ready {
        log::warn!("handover refused by the peer: {}", reason);
        return Err(internal(format!("the peer is not ready to take over: {}", reason)));
    }
    maintenance::set_flag(d, true).map_err(internal)?;
    log::info!("handover: the peer is ready ({}); entering maintenance so it takes over", reason);
    // Yield first; maintenance's priority is applied once the peer took over.
    let applied = if maintenance::yield_now(d, "handover", true) { json!("after the peer took over") } else { apply::apply(d, false).map_err(internal)? };
    reply_json(json!({ "handover": true, "peer": reason, "maintenance": true, "apply": applied }))
}
