//! `ubus call muros_ha apply` — render + atomic replace, then reload what changed.
//! A failing validation changes nothing and returns the errors.

use super::{reload, Arg, ArgType, Context, MethodError, MethodResult, STATUS_UNKNOWN_ERROR};
use crate::deploy::{self, DeployError, DeployOptions};
use serde_json::{json, Map, Value};

pub const POLICY: &[Arg] = &[Arg { name: "dry_run", kind: ArgType::Bool, required: false }];

pub fn call(ctx: &Context, args: &Map<String, Value>) -> MethodResult {
    let dry_run = args.get("dry_run").and_then(Value::as_bool).unwrap_or(false);
    let opts = DeployOptions { verify: ctx.verify, hook_binary: ctx.hook_binary.clone(), dry_run };
    match deploy::apply(&ctx.paths, &opts) {
        Ok(report) => {
            let reloaded = if dry_run { Vec::new() } else { reload::reload_for(&ctx.paths, &report.changed) };
            let changed: Vec<String> = report.changed.iter().map(|p| p.display().to_string()).collect();
            if !changed.is_empty() && !dry_run {
                log::info!("apply: {} file(s) changed; {}", changed.len(), reloaded.join("; "));
            }
            Ok(json!({ "valid": true, "errors": [], "changed": changed, "reloaded": reloaded, "warnings": report.warnings, "dry_run": dry_run }))
        }
        Err(DeployError::Invalid(errors)) => Ok(json!({ "valid": false, "errors": errors, "changed": [], "reloaded": [] })),
        Err(e) => Err(MethodError { status: STATUS_UNKNOWN_ERROR, message: e.to_string() }),
    }
}
