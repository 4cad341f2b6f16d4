//! Broken configurations: every error is listed with file, line and `section.option`,
//! and the files a previous good `render` installed stay byte-identical.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod fs_support;
use fs_support::copy_tree;

// The binary under test: cargo's, or MUROS_HA_BIN (the shipped or a cross binary).
fn bin() -> &'static str {
    fs_support::muros_bin()
}

struct Root(PathBuf);
impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}


fn example_root(tag: &str) -> Root {
    let dir = std::env::temp_dir().join(format!("muros-cfgerr-{}-{}", tag, std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/router-a"), &dir);
    Root(dir)
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn muros_ha(root: &Root) -> PathBuf {
    root.0.join("etc/config/muros_ha")
}

fn edit(root: &Root, from: &str, to: &str) {
    let p = muros_ha(root);
    let text = fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "example lacks {:?}", from);
    fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

fn snapshot(root: &Root) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<(PathBuf, Vec<u8>, std::time::SystemTime)>) {
        for e in fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), out);
            } else {
                let m = e.metadata().unwrap();
                out.push((e.path(), fs::read(e.path()).unwrap(), m.modified().unwrap()));
            }
        }
    }
    walk(&root.0, &mut out);
    out.sort();
    out
}

/// (what is broken, edit from, edit to, expected location, expected words)
const BROKEN: &[(&str, &str, &str, &str, &str)] = &[
    ("unknown role", "option role 'master'", "option role 'primary'", "global.role", "unknown role 'primary'"),
    ("VRID out of range", "option vrid '10'", "option vrid '300'", "lan.vrid", "out of range"),
    ("VRID used twice on one interface", "option interface 'guest'\n\toption address '198.51.100.1/24'\n\toption vrid '11'", "option interface 'lan'\n\toption address '192.0.2.5/24'\n\toption vrid '10'", "guest.vrid", "used twice"),
    ("duplicate VIP", "option address '198.51.100.1/24'", "option address '192.0.2.1/24'", "guest.address", "already the VIP"),
    ("password too long for VRRPv2", "option password 'Lq4vN8ct'", "option password 'Lq4vN8ctLONG'", "global.password", "at most 8"),
    ("password with a blank", "option password 'Lq4vN8ct'", "option password 'Xk7 Q2wz'", "global.password", "blanks"),
    ("the shipped example password", "option password 'Lq4vN8ct'", "option password 'changeme'", "global.password", "example password"),
    ("the README's example password", "option password 'Lq4vN8ct'", "option password 'Xk7pQ2wz'", "global.password", "example password"),
    ("authentication with VRRPv3", "option vrrp_version '2'", "option vrrp_version '3'", "global.auth_type", "only in VRRPv2"),
    ("sub-second advert with VRRPv2", "option advert_int '1'", "option advert_int '0.5'", "global.advert_int", "needs VRRPv3"),
    ("sync interface not set", "\toption sync_interface 'sync'\n", "", "global.sync_interface", "not set"),
    ("sync interface unknown", "option sync_interface 'sync'", "option sync_interface 'sink'", "global.sync_interface", "not defined"),
    ("VIP on the sync link", "option interface 'guest'", "option interface 'sync'", "guest.interface", "sync link"),
    ("multicast MAC", "option macaddr '02:6d:75:72:6f:73'", "option macaddr '03:6d:75:72:6f:73'", "wan.macaddr", "multicast"),
    ("vendor MAC", "option macaddr '02:6d:75:72:6f:73'", "option macaddr '00:6d:75:72:6f:73'", "wan.macaddr", "locally administered"),
    ("IPv6 VIP on VRRPv2", "option address '198.51.100.1/24'", "option address '2001:db8::1/64'", "guest.address", "needs VRRPv3"),
    ("unicast without peer address", "option sync_mode 'multicast'", "option sync_mode 'unicast'", "lan.peer_address", "not set"),
    ("typo in an option name", "option vrid '10'", "option vird '10'", "lan.vird", "unknown option"),
    ("service name that is a path", "list service 'odhcpd'", "list service '../../bin/sh'", "global.service", "not an init script name"),
    ("priority out of range", "option preempt '1'", "option preempt '1'\n\toption priority '255'", "global.priority", "out of range"),
    ("address that is not one", "option address '192.0.2.1/24'", "option address '192.0.2.300/24'", "lan.address", "not an address"),
    ("boolean that is not one", "option preempt '1'", "option preempt 'maybe'", "global.preempt", "not a boolean"),
    ("all-zero peer key", "option peer_ip '198.18.0.2'", "option peer_ip '198.18.0.2'\n\toption peer_key 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='", "global.peer_key", "small order"),
    ("order-8 peer key", "option peer_ip '198.18.0.2'", "option peer_ip '198.18.0.2'\n\toption peer_key '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157'", "global.peer_key", "small order"),
    ("UCI syntax error", "option role 'master'", "option role 'master", "muros_ha", "muros_ha:"),
];

#[test]
fn each_broken_input_is_reported_with_its_location_and_changes_nothing() {
    let mut failures = Vec::new();
    for (what, from, to, location, words) in BROKEN {
        let root = example_root("each");
        let r = root.0.to_str().unwrap();
        let (code, _, err) = run(&["render", "--root", r, "--no-verify", "--hook", "/usr/sbin/muros-ha"]);
        assert_eq!(code, 0, "good example must render: {}", err);
        let before = snapshot(&root);
        edit(&root, from, to);
        let edited = fs::read(muros_ha(&root)).unwrap();

        let (code, _, err) = run(&["check", "--root", r]);
        if code != 1 || !err.contains(location) || !err.contains(words) || !err.contains("etc/config/muros_ha:") {
            failures.push(format!("{}: check exit {} stderr:\n{}", what, code, err));
        }
        let (code, _, err) = run(&["render", "--root", r, "--no-verify", "--hook", "/usr/sbin/muros-ha"]);
        if code != 1 {
            failures.push(format!("{}: render exit {} stderr:\n{}", what, code, err));
        }
        // Everything but the edited config is exactly as before, mtimes included.
        let after = snapshot(&root);
        let strip = |v: Vec<(PathBuf, Vec<u8>, std::time::SystemTime)>| -> Vec<_> { v.into_iter().filter(|(p, _, _)| !p.ends_with("etc/config/muros_ha")).collect() };
        if strip(before) != strip(after) {
            failures.push(format!("{}: live files changed", what));
        }
        assert_eq!(fs::read(muros_ha(&root)).unwrap(), edited);
    }
    assert!(BROKEN.len() >= 15);
    assert!(failures.is_empty(), "{} of {} cases wrong:\n{}", failures.len(), BROKEN.len(), failures.join("\n"));
}

#[test]
fn all_errors_are_listed_at_once_not_just_the_first() {
    let root = example_root("all");
    edit(&root, "option role 'master'", "option role 'primary'");
    edit(&root, "option vrid '10'", "option vrid '0'");
    edit(&root, "option macaddr '02:6d:75:72:6f:73'", "option macaddr 'zz'");
    edit(&root, "option advert_int '1'", "option advert_int '0.25'");
    let (code, _, err) = run(&["check", "--root", root.0.to_str().unwrap()]);
    assert_eq!(code, 1);
    for loc in ["global.role", "lan.vrid", "wan.macaddr", "global.advert_int"] {
        assert!(err.contains(loc), "missing {} in:\n{}", loc, err);
    }
    assert!(err.contains("4 errors"), "{}", err);
    // Errors name the line: role is on line 6 of the example.
    assert!(err.contains("etc/config/muros_ha:6: global.role"), "{}", err);
}

#[test]
fn the_example_pair_is_valid() {
    for r in ["router-a", "router-b"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(r);
        let (code, out, err) = run(&["check", "--root", root.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {}", r, err);
        assert!(out.contains("2 VIPs"), "{}", out);
    }
}

#[test]
fn a_missing_config_file_is_an_error_not_a_crash() {
    let root = example_root("missing");
    fs::remove_file(muros_ha(&root)).unwrap();
    let (code, _, err) = run(&["check", "--root", root.0.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("muros_ha"), "{}", err);
}

/// The shipped `/etc/config/muros_ha` says `option password 'changeme'`: a router left
/// with it would run VRRP with a secret everyone knows. `check` names file, line and option.
#[test]
fn check_refuses_the_shipped_example_password_with_file_line_and_option() {
    let root = example_root("changeme");
    edit(&root, "option password 'Lq4vN8ct'", "option password 'changeme'");
    let (code, _, err) = run(&["check", "--root", root.0.to_str().unwrap()]);
    assert_eq!(code, 1, "{}", err);
    let line = err.lines().find(|l| l.contains("example password")).unwrap_or_else(|| panic!("no example-password error: {}", err));
    assert!(line.contains("etc/config/muros_ha:7:") && line.contains("global.password"), "{}", line);
    assert!(!err.contains("Lq4vN8ct"));
}

/// The refused list is what the shipped config and the README actually show.
#[test]
fn every_documented_password_is_in_the_refused_list() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut shown = Vec::new();
    for f in ["README.md", "files/muros_ha.config"] {
        let text = fs::read_to_string(here.join(f)).unwrap();
        for l in text.lines() {
            if let Some(rest) = l.trim_start().strip_prefix("option password '") {
                shown.push(rest.split('\'').next().unwrap().to_string());
            }
        }
    }
    assert!(shown.len() >= 2, "{:?}", shown);
    for p in shown {
        assert!(muros_ha::model::EXAMPLE_PASSWORDS.contains(&p.as_str()), "'{}' is documented but not refused", p);
    }
}
