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

use serde::Serialize;
use std::fmt;

/// One validation problem; JSON `{"file","line","location","message","allowed"?}`
/// (in `validate` and `apply` replies, keys sorted there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the problem is not tied to a line (a missing file).
    pub line: usize,
    /// `section` or `section.option` in `uci show` notation (`@vip[1].vrid`).
    pub location: String,
    pub message: String,
    /// What would be accepted, when that can be said in a few words; left out when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<String>,
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

