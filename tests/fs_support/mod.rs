//! File helpers shared by the integration tests and the daemon benchmark.

use std::fs;
use std::path::{Path, PathBuf};

#[allow(dead_code)]
/// Copy the directory tree `from` into `to` (created), e.g. an example router root.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// The real OpenWrt tools (`openwrt-tools/` with `bin/ubusd`): `MUROS_SHARED`, else
/// `shared/` beside the checkout (CI, /work/main) or one level further up (worktrees).
#[allow(dead_code)]
pub fn openwrt_tools() -> Option<PathBuf> {
    let mut cands = Vec::new();
    if let Ok(s) = std::env::var("MUROS_SHARED") {
        cands.push(PathBuf::from(s).join("openwrt-tools"));
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    cands.push(here.join("../shared/openwrt-tools"));
    cands.push(here.join("../../shared/openwrt-tools"));
    cands.into_iter().find(|p| p.join("bin/ubusd").is_file())
}
