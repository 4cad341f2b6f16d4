//! Loading a package from disk with the file-selection rules of real uci.
//!
//! libuci (`uci_file_load`) first looks for the package in its "conf2" directory
//! (`-C`, default `/var/run/uci`); if a file of that name exists there, it is read
//! *instead of* `/etc/config/<name>` (and `uci commit` writes back to it). On top of the
//! file, libuci applies the uncommitted changes saved in `/tmp/.uci/<name>`, so `uci
//! show`, netifd and LuCI see them. We read committed files only, and say so loudly when
//! changes are pending rather than act on a config the rest of the system does not see.

use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use super::{reader, Package, UciError};
use crate::paths::Paths;

/// Uncommitted changes found in uci's save directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChanges {
    pub path: PathBuf,
    /// Number of change records (lines) in the delta file.
    pub count: usize,
}

/// Pending `uci set/add/delete` changes for `name` that were never committed, if any.
/// `uci commit` and `uci revert` leave an empty delta file behind, which is not pending.
pub fn pending_changes(paths: &Paths, name: &str) -> Option<PendingChanges> {
    let path = paths.uci_savedir().join(name);
    let bytes = crate::fsutil::read(&path).ok()?;
    let count = bytes.split(|&c| c == b'\n').filter(|l| l.iter().any(|c| !c.is_ascii_whitespace())).count();
    (count > 0).then_some(PendingChanges { path, count })
}

/// Read and parse package `name` as real uci would pick it: the override file under
/// [`Paths::uci_override_dir`] if one exists, else [`Paths::uci_file`]. Returns the
/// package and warnings (override in use, uncommitted changes, invalid UTF-8). A missing
/// or unreadable file is an error with line 0.
pub fn load_package(paths: &Paths, name: &str) -> Result<(Package, Vec<String>), UciError> {
    let main = paths.uci_file(name);
    let fail = |path: &PathBuf, message: String| UciError { file: path.display().to_string(), line: 0, message };
    if !reader::valid_package(name) {
        return Err(fail(&main, format!("invalid package name '{name}'")));
    }
    let mut warnings = Vec::new();
    let over = paths.uci_override_dir().join(name);
    // libuci only stat()s the override path: anything there (even a directory) wins.
    let path = if fs::metadata(&over).is_ok() {
        warnings.push(format!(
            "{} overrides {}: uci reads and commits that file instead",
            over.display(),
            main.display()
        ));
        over
    } else {
        main
    };
    let bytes = crate::fsutil::read(&path).map_err(|e| {
        let what = match e.kind() {
            ErrorKind::NotFound => "file not found".to_string(),
            _ => format!("cannot read: {e}"),
        };
        fail(&path, what)
    })?;
    let label = path.display().to_string();
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            warnings.push(format!("{label}: not valid UTF-8; invalid bytes read as U+FFFD"));
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    };
    let mut package = reader::parse_located(&text, &label)?.package;
    package.name = name.to_string();
    if let Some(p) = pending_changes(paths, name) {
        warnings.push(format!(
            "uncommitted changes in {} ({} pending); uci and netifd already see them but this file does not: run `uci commit {name}`",
            p.path.display(),
            p.count
        ));
    }
    Ok((package, warnings))
}
