//! `ubus call muros_ha validate` — the `check` result as structured errors:
//! `{"valid": bool, "errors": [{"file","line","location","message","allowed"?}], "warnings": []}`.

use super::Daemon;
use crate::ubus::{reply_json, Arg, Reply, Request};
use serde_json::{json, Value};

pub const POLICY: &[Arg] = &[];

pub fn call(d: &mut Daemon, _req: &Request<'_>) -> Reply {
    reply_json(report(d))
}

pub fn report(d: &Daemon) -> Value {
    match crate::model::load_packages(&d.paths) {
        Err(errors) => json!({ "valid": false, "errors": errors, "warnings": [] }),
        Ok(src) => match crate::model::validate(&src) {
            Ok(_) => json!({ "valid": true, "errors": [], "warnings": src.warnings }),
            Err(errors) => json!({ "valid": false, "errors": errors, "warnings": src.warnings }),
        },
    }
}
