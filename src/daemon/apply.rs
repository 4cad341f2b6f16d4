//! `ubus call muros_ha apply {"dry_run"?: bool}` — render + atomic replace, then reload
//! what changed. A failing validation changes nothing and returns the errors:
//! `{"valid","errors","changed":[paths],"reloaded":[lines],"warnings","dry_run"}`.

use super::{internal, reload, Daemon};
use crate::deploy::{self, DeployError, DeployOptions};
use crate::ubus::{reply_json, Arg, ArgType, Reply, Request};
use serde_json::{json, Value};

pub const POLICY: &[Arg] = &[Arg::optional("dry_run", ArgType::Bool)];

pub fn call(d: &mut Daemon, req: &Request<'_>) -> Reply {
    let dry_run = req.args.bool("dry_run").unwrap_or(false);
    reply_json(apply(d, dry_run).map_err(internal)?)
}

/// Applies so far and the last one's reply (behind a lock: `apply` gets `&Daemon`).
#[derive(Debug, Default)]
pub struct Record(std::sync::Mutex<(u64, Value)>);

impl Record {
    /// `{"count", "last"}` for `status`; `last` is null before the first apply.
    pub fn to_json(&self) -> Value {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        json!({ "count": g.0, "last": g.1.clone() })
    }
    fn note(&self, reply: &Result<Value, String>) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.0 += 1;
        let seq = g.0;
        g.1 = match reply {
            Ok(v) => v.clone(),
            Err(e) => json!({ "valid": true, "error": e }),
        };
        if let Some(o) = g.1.as_object_mut() {
            o.insert("seq".into(), json!(seq));
            o.insert("time".into(), json!(crate::failover::state::now_secs()));
        }
    }
}

/// Shared by `apply`, `maintenance` and SIGHUP.
pub fn apply(d: &Daemon, dry_run: bool) -> Result<Value, String> {
    let reply = apply_once(d, dry_run);
    if !dry_run {
        d.applies.note(&reply);
    }
    reply
}

fn apply_once(d: &Daemon, dry_run: bool) -> Result<Value, String> {
    let opts = DeployOptions { verify: d.verify, hook_binary: d.hook_binary.clone(), dry_run };
    match deploy::apply(&d.paths, &opts) {
        Ok(report) => {
            let reloaded = if dry_run { Vec::new() } else { reload::reload_for(&d.paths, &report.changed) };
            let changed: Vec<String> = report.changed.iter().map(|p| p.display().to_string()).collect();
            if !changed.is_empty() && !dry_run {
                log::info!("apply: changed {}; {}", changed.join(", "), reloaded.join("; "));
            }
            Ok(json!({ "valid": true, "errors": [], "changed": changed, "reloaded": reloaded, "warnings": report.warnings, "dry_run": dry_run }))
        }
        Err(DeployError::Invalid(errors)) => {
            log::warn!("apply refused: {} configuration error(s); nothing changed", errors.len());
            Ok(json!({ "valid": false, "errors": errors, "changed": [], "reloaded": [], "warnings": [], "dry_run": dry_run }))
        }
        Err(e) => {
            log::error!("apply failed, nothing changed: {}", e);
            Err(e.to_string())
        }
    }
}
