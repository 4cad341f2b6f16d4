//! Sections → validated, typed configuration.
//!
//! [`load`] reads `muros_ha`, `network` and `system` under a root and returns either a
//! [`Config`] or *every* problem found, each with file, line, `section.option`, what is
//! wrong and what is allowed.

mod load;
mod network;
pub mod peer;
mod types;

pub use load::{default_wan_device, load, load_peer, load_packages, parse_mac, validate, Sources};
pub use network::resolve_interface;

pub use types::*;

use crate::json::{json, ToJson, Value};
use std::fmt;

/// One validation problem; JSON `{"file","line","location","message","allowed"?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the problem is not tied to a line (a missing file).
    pub line: usize,
    /// `section` or `section.option` in `uci show` notation (`@vip[1].vrid`).
    pub location: String,
    pub message: String,
    /// What would be accepted, when that can be said in a few words.
    pub allowed: Option<String>,
}

/// In `validate` and `apply` replies; `allowed` left out when `None`.
impl ToJson for ConfigError {
    fn to_json(&self) -> Value {
        let mut v = json!({ "file": self.file, "line": self.line, "location": self.location, "message": self.message });
        if let (Some(a), Value::Object(m)) = (&self.allowed, &mut v) {
            m.insert("allowed".to_string(), a.to_json());
        }
        v
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}", self.file, self.line, self.location, self.message)?;
        if let Some(a) = &self.allowed {
            write!(f, " (allowed: {})", a)?;
        }
        Ok(())
    }
}

