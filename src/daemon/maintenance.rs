//! `ubus call muros_ha maintenance {"enable": bool}` — persistent maintenance mode.
//!
//! Stored as `option maintenance` in `/etc/config/muros_ha` (so it survives a reboot and
//! shows in LuCI), then applied like any change: keepalived gets the new priority by
//! SIGHUP, which is hitless. A lower priority alone moves nothing when the peer runs
//! `nopreempt` (preempt '0'), so a MASTER entering maintenance also *yields*: the
//! daemon's track file puts its instances into FAULT for a moment, keepalived sends a
//! priority-0 advert, and the peer takes over at once, preempt or not. The yield ends
//! when the peer advertises as MASTER (or after [`YIELD_MAX`], with an alert); with
//! priority 1 this router then stays BACKUP.

use super::{apply, internal, Daemon};
use crate::paths::UCI_PACKAGE;
use crate::ubus::{reply_json, Arg, ArgType, Reply, Request};
use crate::uci::Editor;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

pub const POLICY: &[Arg] = &[Arg::required("enable", ArgType::Bool)];

/// Longest a yield waits for the peer to take over.
pub const YIELD_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// A yield in progress.
#[derive(Debug, Clone)]
pub struct Yield {
    pub since: std::time::Instant,
    pub reason: String,
    /// Apply the config (maintenance's priority 1) when the yield ends, while still
    /// fenced: a keepalived reload before the peer took over restarted the instances
    /// and the peer then waited a whole master-down interval (~300 ms at 0.1 s) instead
    /// of its skew time.
    pub apply_after: bool,
    /// When the peer was seen MASTER.
    pub taken_at: Option<std::time::Instant>,
}

/// How long a yield that applies maintenance afterwards stays fenced once the peer took
/// over: the first, WAN part of its takeover runs without our render and keepalived
/// reload competing for the CPU (two cores: the handover's VRRP → WAN doubled). Short:
/// while fenced this router cannot take a handover back.
pub const SETTLE: std::time::Duration = std::time::Duration::from_millis(300);

/// If this node is MASTER, yield to the peer now (see the module doc). True if it did.
pub(crate) fn yield_now(d: &mut Daemon, why: &str, apply_after: bool) -> bool {
    let master = crate::failover::state::read_desired(&d.paths).map(|x| x.state).or_else(|| crate::failover::state::read_current(&d.paths).map(|c| c.state)) == Some(crate::failover::GroupState::Master);
    if !master {
        return false;
    }
    log::info!("{}: yielding so the peer takes over now (preempt or not)", why);
    d.yielding = Some(Yield { since: std::time::Instant::now(), reason: format!("{}: yielding to the peer", why), apply_after, taken_at: None });
    super::run::sync_fault_file(d, why);
    true
}

pub fn call(d: &mut Daemon, req: &Request<'_>) -> Reply {
    let enable = req.args.bool("enable").unwrap_or(false);
    set_flag(d, enable).map_err(internal)?;
    log::info!("maintenance {}", if enable { "on: lowering priority so the peer takes over" } else { "off: priority restored" });
    // A MASTER yields first and takes its new priority once the peer took over.
    let applied = if enable && yield_now(d, "maintenance", true) { json!("after the peer took over") } else { apply::apply(d, false).map_err(internal)? };
    let cfg = crate::model::load(&d.paths).ok();
    reply_json(json!({
        "maintenance": enable,
        "effective_priority": cfg.as_ref().map(|c| c.effective_priority()),
        "apply": applied,
    }))
}

/// Write `option maintenance` into the first `global` section, keeping every other byte.
/// (pub(crate) for `handover`, peer branch.)
pub(crate) fn set_flag(d: &Daemon, enable: bool) -> Result<(), String> {
    let path = d.paths.uci_file(UCI_PACKAGE);
    let label = path.display().to_string();
    let text = crate::fsutil::read_to_string(&path).map_err(|e| format!("{}: {}", label, e))?;
    let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o600);
    let mut ed = Editor::new(&text, &label).map_err(|e| e.to_string())?;
    let section = ed.package().sections.iter().position(|s| s.stype == "global").map(|i| ed.package().display_name(i)).ok_or_else(|| format!("{}: no 'config global' section", label))?;
    ed.set_option(&section, "maintenance", if enable { "1" } else { "0" }).map_err(|e| e.to_string())?;
    let out = ed.finish();
    crate::fsutil::replace_if_changed(&path, out.as_bytes(), mode).map_err(|e| format!("{}: {}", label, e))?;
    Ok(())
}
