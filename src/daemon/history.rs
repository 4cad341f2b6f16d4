//! `ubus call muros_ha history {"limit"?: int}` — the last transitions, newest last,
//! each with its actions, their results and durations in ms; and the last events that
//! were not transitions (fence, alerts, what the peer sent and this node refused).

use super::Daemon;
use crate::ubus::{reply_json, Arg, ArgType, MethodError, Reply, Request, Status};
use serde_json::json;

pub const POLICY: &[Arg] = &[Arg::optional("limit", ArgType::Int32)];

pub fn call(d: &mut Daemon, req: &Request<'_>) -> Reply {
    let limit = match req.args.i64("limit") {
        None => None,
        Some(n) if (0..=i64::from(u16::MAX)).contains(&n) => Some(n as usize),
        Some(_) => return Err(MethodError::new(Status::InvalidArgument, "limit must be 0..65535")),
    };
    let transitions = crate::failover::history::read(&d.paths, limit);
    let events = crate::failover::history::read_events(&d.paths, limit);
    reply_json(json!({ "transitions": transitions, "events": events }))
}
