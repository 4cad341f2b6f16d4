//! File helpers shared by the integration tests and the daemon benchmark.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this process and call, for netns and temp dirs.
#[allow(dead_code)]
pub fn unique(prefix: &str) -> String {
    format!("{}{}-{}", prefix, std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst))
}

/// A temp directory removed on drop, also when an assertion fails.
#[allow(dead_code)]
pub struct TempDir(pub PathBuf);

#[allow(dead_code)]
impl TempDir {
    pub fn new() -> TempDir {
        let p = std::env::temp_dir().join(unique("muros-test-"));
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

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

/// The muros-ha binary under test: `MUROS_HA_BIN` when set (tests/run-all.sh points it
/// at the shipped static musl build to run the daemon and hook suites on it), else the
/// one cargo built for this test run.
#[allow(dead_code)]
pub fn muros_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| match std::env::var("MUROS_HA_BIN") {
        Ok(p) => {
            assert!(Path::new(&p).is_file(), "MUROS_HA_BIN={} is not a file", p);
            p
        }
        // option_env!: examples include this file too, and cargo sets it only for tests.
        Err(_) => match option_env!("CARGO_BIN_EXE_muros-ha") {
            Some(p) => p.to_string(),
            None => panic!("no muros-ha binary: set MUROS_HA_BIN"),
        },
    })
}

/// `uci show PACKAGE` by the real uci (from [`openwrt_tools`]) on the files in
/// `config_dir`, or None when the tools are not here (a failure under `CI=true`).
/// Asserts the real uci accepts the file: what we write must parse for OpenWrt.
#[allow(dead_code)]
pub fn real_uci_show(config_dir: &Path, package: &str) -> Option<String> {
    let Some(tools) = openwrt_tools() else {
        assert!(std::env::var_os("CI").is_none(), "the real uci (shared/openwrt-tools) is needed in CI");
        eprintln!("skipped `uci show {package}`: shared/openwrt-tools not found");
        return None;
    };
    let save = TempDir::new();
    let out = std::process::Command::new(tools.join("bin/uci"))
        .arg("-c")
        .arg(config_dir)
        .arg("-t")
        .arg(&save.0)
        .args(["show", package])
        .output()
        .expect("run the real uci");
    assert!(out.status.success(), "real uci cannot read our {package} file: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A scratch router root (`$TMP/muros-TAG-PID`, emptied first) with the shipped example
/// router A's `muros_ha` and `network`, plus `/etc/config/<name>` = `text` for each of
/// `extra`: the start of every test of one of render's UCI edits.
#[allow(dead_code)]
pub fn router_a_root(tag: &str, extra: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("muros-{}-{}", tag, std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let config = dir.join("etc/config");
    fs::create_dir_all(&config).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/router-a/etc/config");
    for f in ["muros_ha", "network"] {
        fs::copy(src.join(f), config.join(f)).unwrap();
    }
    for (name, text) in extra {
        fs::write(config.join(name), text).unwrap();
    }
    dir
}
