//! Model → text. Pure and deterministic: same input, same bytes; no I/O here.

use crate::model::Config;
use crate::paths::Paths;
use std::path::PathBuf;

/// One file to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Absolute path under the root.
    pub path: PathBuf,
    pub contents: String,
    /// Permission bits (0600 for anything holding the secret).
    pub mode: u32,
}

/// What every rendered file needs to know besides the model.
#[derive(Debug, Clone)]
pub struct RenderContext<'a> {
    pub paths: &'a Paths,
    /// Absolute path of the muros-ha binary that keepalived's notify line calls
    /// (`/usr/sbin/muros-ha` on a router).
    pub hook_binary: &'a str,
}

/// keepalived.conf, conntrackd.conf and the fw4 snippet for `cfg`.
pub fn render_all(cfg: &Config, ctx: &RenderContext<'_>) -> Vec<OutputFile> {
    let _ = (cfg, ctx);
    Vec::new()
}
