//! load_package picks the file real uci picks (override dir first) and never ignores
//! uncommitted changes silently. The delta files here are made by the real uci binary.

mod uci_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use muros_ha::paths::Paths;
use muros_ha::uci::{load_package, pending_changes};
use uci_common::real_uci;

struct Root(PathBuf);
impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
fn root(tag: &str) -> Root {
    let dir = std::env::temp_dir().join(format!("muros-uci-load-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("etc/config")).expect("mkdir");
    // As on a router: /tmp exists; uci creates /tmp/.uci itself but not its parents.
    std::fs::create_dir_all(dir.join("tmp")).expect("mkdir");
    Root(dir)
}
fn write(path: &Path, text: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// Real uci pointed at the lab root's directories, as it would run on the router.
fn uci_in(bin: &Path, paths: &Paths, args: &[&str]) -> std::process::Output {
    Command::new(bin)
        .arg("-c")
        .arg(paths.config_dir())
        .arg("-t")
        .arg(paths.uci_savedir())
        .arg("-C")
        .arg(paths.uci_override_dir())
        .args(args)
        .output()
        .expect("run uci")
}

#[test]
fn missing_file_is_an_error_at_line_zero() {
    let r = root("missing");
    let err = load_package(&Paths::new(&r.0), "network").expect_err("missing");
    assert_eq!(err.line, 0);
    assert!(err.file.ends_with("etc/config/network"), "{err}");
    assert!(err.message.contains("not found"), "{err}");
    assert!(load_package(&Paths::new(&r.0), "../etc").is_err(), "path-like package names are refused");
}

#[test]
fn plain_file_loads_without_warnings_and_parse_errors_carry_the_file() {
    let r = root("plain");
    let paths = Paths::new(&r.0);
    write(&paths.uci_file("muros_ha"), b"config global 'global'\n\toption enabled '1'\n");
    let (pkg, warnings) = load_package(&paths, "muros_ha").expect("loads");
    assert_eq!(pkg.name, "muros_ha");
    assert_eq!(pkg.section("global").and_then(|s| s.get("enabled")), Some("1"));
    assert!(warnings.is_empty(), "{warnings:?}");

    write(&paths.uci_file("muros_ha"), b"config global 'global'\n\toption enabled '1' extra\n");
    let err = load_package(&paths, "muros_ha").expect_err("too many arguments");
    assert_eq!((err.line, err.message.as_str()), (2, "too many arguments"));
    assert!(err.file.ends_with("etc/config/muros_ha"));
}

#[test]
fn override_file_wins_as_it_does_for_real_uci() {
    let r = root("override");
    let paths = Paths::new(&r.0);
    write(&paths.uci_file("network"), b"config interface 'from_etc'\n");
    write(&paths.uci_override_dir().join("network"), b"config interface 'from_override'\n");
    let (pkg, warnings) = load_package(&paths, "network").expect("loads");
    assert!(pkg.section("from_override").is_some() && pkg.section("from_etc").is_none(), "{pkg:?}");
    assert!(pkg.file.contains("var/run/uci"), "{}", pkg.file);
    assert!(warnings.iter().any(|w| w.contains("overrides")), "{warnings:?}");

    let Some(uci) = real_uci() else { return };
    let out = uci_in(&uci.bin, &paths, &["show", "network"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "network.from_override=interface\n");
}

#[test]
fn uncommitted_uci_changes_are_reported_until_committed() {
    let Some(uci) = real_uci() else { return };
    let r = root("delta");
    let paths = Paths::new(&r.0);
    write(&paths.uci_file("muros_ha"), b"config global 'global'\n\toption maintenance '0'\n");

    let set = uci_in(&uci.bin, &paths, &["set", "muros_ha.global.maintenance=1"]);
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let (pkg, warnings) = load_package(&paths, "muros_ha").expect("loads");
    // We read the committed file ...
    assert_eq!(pkg.section("global").and_then(|s| s.get("maintenance")), Some("0"));
    // ... and say loudly that uci sees something else.
    assert!(
        warnings.iter().any(|w| w.contains("uncommitted changes in") && w.contains("uci commit muros_ha")),
        "{warnings:?}"
    );
    assert_eq!(pending_changes(&paths, "muros_ha").map(|p| p.count), Some(1));

    let commit = uci_in(&uci.bin, &paths, &["commit", "muros_ha"]);
    assert!(commit.status.success());
    // uci leaves an empty delta file behind after commit: that is not pending.
    assert!(paths.uci_savedir().join("muros_ha").exists());
    let (pkg, warnings) = load_package(&paths, "muros_ha").expect("loads");
    assert_eq!(pkg.section("global").and_then(|s| s.get("maintenance")), Some("1"));
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn invalid_utf8_is_read_with_a_warning() {
    let r = root("latin1");
    let paths = Paths::new(&r.0);
    write(&paths.uci_file("system"), b"config system\n\toption hostname 'caf\xe9'\n");
    let (pkg, warnings) = load_package(&paths, "system").expect("loads");
    assert_eq!(pkg.sections[0].get("hostname"), Some("caf\u{fffd}"));
    assert!(warnings.iter().any(|w| w.contains("UTF-8")), "{warnings:?}");
}

#[test]
fn override_alone_is_enough_and_a_directory_there_is_an_error() {
    let r = root("override-only");
    let paths = Paths::new(&r.0);
    write(&paths.uci_override_dir().join("dhcp"), b"config dnsmasq\n");
    let (pkg, _) = load_package(&paths, "dhcp").expect("override without /etc/config file");
    assert_eq!(pkg.sections.len(), 1);

    write(&paths.uci_file("firewall"), b"config defaults\n");
    std::fs::create_dir_all(paths.uci_override_dir().join("firewall")).expect("mkdir");
    // libuci only stat()s the override path, so a directory there hides the real file
    // (uci answers "Entry not found"); we fail too, naming the path.
    let err = load_package(&paths, "firewall").expect_err("directory override");
    assert_eq!(err.line, 0);
    assert!(err.file.contains("var/run/uci/firewall"), "{err}");
    let Some(uci) = real_uci() else { return };
    assert!(!uci_in(&uci.bin, &paths, &["show", "firewall"]).status.success());
}
