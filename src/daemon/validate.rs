//! `ubus call muros_ha validate` — the `check` result as structured errors.

use super::{Arg, Context, MethodResult};
use serde_json::{json, Map, Value};

pub const POLICY: &[Arg] = &[];

pub fn call(ctx: &Context, _args: &Map<String, Value>) -> MethodResult {
    Ok(match crate::model::load_packages(&ctx.paths) {
        Err(errors) => json!({ "valid": false, "errors": errors, "warnings": [] }),
        Ok(src) => match crate::model::validate(&src) {
            Ok(_) => json!({ "valid": true, "errors": [], "warnings": src.warnings }),
            Err(errors) => json!({ "valid": false, "errors": errors, "warnings": src.warnings }),
        },
    })
}
