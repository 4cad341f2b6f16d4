//! The long-running daemon and its ubus object `muros_ha`.
//!
//! One file per method; each declares its argument policy beside its handler. Handlers
//! are plain functions from JSON arguments to a JSON reply so they can be tested
//! without a broker; `server.rs` binds them to the ubus object.

pub mod apply;
pub mod reload;
pub mod validate;

use crate::paths::Paths;
use serde_json::{Map, Value};

/// The blobmsg type an argument must have (ubus signatures carry these numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    Bool,
    Int,
    String,
    Table,
}

/// A method's declared argument.
#[derive(Debug, Clone, Copy)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgType,
    pub required: bool,
}

/// Why a call failed: a ubus status plus a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodError {
    /// ubus status code (2 = INVALID_ARGUMENT, 9 = UNKNOWN_ERROR, …).
    pub status: i32,
    pub message: String,
}

pub const STATUS_INVALID_ARGUMENT: i32 = 2;
pub const STATUS_UNKNOWN_ERROR: i32 = 9;

pub type MethodResult = Result<Value, MethodError>;

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct Context {
    pub paths: Paths,
    /// Binary keepalived's notify line calls (this executable on a router).
    pub hook_binary: String,
    /// Run `keepalived -t` before installing (off only in tests without interfaces).
    pub verify: bool,
}

/// Check `args` against `policy`: wrong types and missing required arguments are
/// refused with INVALID_ARGUMENT; unknown arguments (LuCI's `ubus_rpc_session`) ignored.
pub fn check_args(policy: &[Arg], args: &Map<String, Value>) -> Result<(), MethodError> {
    for a in policy {
        match args.get(a.name) {
            None if a.required => return Err(invalid(format!("missing argument '{}'", a.name))),
            None => {}
            Some(v) => {
                let ok = match a.kind {
                    ArgType::Bool => v.is_boolean(),
                    ArgType::Int => v.is_i64() || v.is_u64(),
                    ArgType::String => v.is_string(),
                    ArgType::Table => v.is_object(),
                };
                if !ok {
                    return Err(invalid(format!("argument '{}' must be {}", a.name, type_word(a.kind))));
                }
            }
        }
    }
    Ok(())
}

fn type_word(t: ArgType) -> &'static str {
    match t {
        ArgType::Bool => "a boolean",
        ArgType::Int => "an integer",
        ArgType::String => "a string",
        ArgType::Table => "an object",
    }
}

pub fn invalid(message: impl Into<String>) -> MethodError {
    MethodError { status: STATUS_INVALID_ARGUMENT, message: message.into() }
}
