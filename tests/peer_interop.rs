//! A router on the previous release pairs with one on this: a `muros-ha daemon` built
//! from the last commit before the vetted-crypto change (hand-written primitives, no
//! rekey, no handshake payload) against this build, in the peer lab of `peer_pair.rs`,
//! once with each as the master (the side whose configuration is replicated).
//!
//! The old binary is `MUROS_HA_OLD_BIN` when set; otherwise it is built here (debug
//! profile, a few minutes the first time, then cached under the target directory) from
//! `git archive` of [`OLD_RELEASE`], which every full clone has. Without git or without
//! that commit (a shallow clone, a tarball) the test is skipped with the reason printed.
//! Root needed, as for every peer-lab test.

mod peer_support;

use peer_support::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// main before the vetted-crypto change: the wire protocol of the releases so far.
const OLD_RELEASE: &str = "667f2c945f232b02218ab7e04e423ac5431760ff";

const FIREWALL: &str = "config defaults\n\toption input 'ACCEPT'\n\nconfig zone 'lan'\n\toption name 'lan'\n\toption input 'ACCEPT'\n";
const DHCP: &str = "config dnsmasq\n\toption domain 'lan'\n\nconfig dhcp 'lan'\n\toption interface 'lan'\n\toption start '100'\n";

fn skip(why: String) -> Option<PathBuf> {
    eprintln!("SKIP: {}", why);
    None
}

/// The previous release's binary, or `None` (skipped, reason printed).
fn old_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("MUROS_HA_OLD_BIN") {
        assert!(Path::new(&p).is_file(), "MUROS_HA_OLD_BIN={} is not a file", p);
        return Some(p.into());
    }
    let repo = env!("CARGO_MANIFEST_DIR");
    match Command::new("git").args(["-C", repo, "cat-file", "-e", &format!("{}^{{commit}}", OLD_RELEASE)]).output() {
        Err(e) => return skip(format!("no git to fetch the previous release ({})", e)),
        Ok(o) if !o.status.success() => return skip(format!("commit {} not in this checkout (shallow clone?): set MUROS_HA_OLD_BIN", OLD_RELEASE)),
        Ok(_) => {}
    }
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-old");
    let src = base.join(&OLD_RELEASE[..12]);
    if !src.join("Cargo.toml").is_file() {
        let _ = fs::remove_dir_all(&src);
        fs::create_dir_all(&src).unwrap();
        let archive = Command::new("git").args(["-C", repo, "archive", "--format=tar", OLD_RELEASE]).output().unwrap();
        assert!(archive.status.success(), "git archive: {}", String::from_utf8_lossy(&archive.stderr));
        let mut tar = Command::new("tar").arg("-x").arg("-C").arg(&src).stdin(std::process::Stdio::piped()).spawn().unwrap();
        std::io::Write::write_all(tar.stdin.as_mut().unwrap(), &archive.stdout).unwrap();
        assert!(tar.wait().unwrap().success(), "tar -x");
    }
    // `cargo` from PATH in the old tree: its rust-toolchain.toml picks the toolchain.
    let status = Command::new("cargo")
        .current_dir(&src)
        .args(["build", "--locked", "--bin", "muros-ha"])
        .env("CARGO_TARGET_DIR", base.join("target"))
        .status()
        .unwrap();
    assert!(status.success(), "building the previous release failed");
    Some(base.join("target/debug/muros-ha"))
}

/// Pair A and B by pasting keys; both reach in_sync, and a firewall and a dhcp change
/// on the master A arrive on B.
fn pair_and_replicate(lab: &mut Lab) {
    for r in [&lab.a, &lab.b] {
        fs::write(r.config("firewall"), FIREWALL).unwrap();
        fs::write(r.config("dhcp"), DHCP.replace("'100'", "'50'")).unwrap();
        fs::write(r.root.join("tmp/dhcp.leases"), "").unwrap();
    }
    fs::write(lab.a.config("dhcp"), DHCP).unwrap();
    lab.start_paired();
    let (a, b) = (&lab.a, &lab.b);
    let logs = || format!("A log:\n{}\nB log:\n{}", a.log(), b.log());
    assert!(b.wait(Duration::from_secs(10), |r| r.peer()["state"] == "in_sync"), "B in sync: {}\n{}", b.peer(), logs());
    assert!(a.wait(Duration::from_secs(3), |r| r.peer()["state"] == "in_sync"), "A in sync: {}\n{}", a.peer(), logs());
    assert_eq!(uci_get(b, "dhcp", "lan", "start").as_deref(), Some("100"), "initial sync");

    write_atomic(&a.config("firewall"), &format!("{}\nconfig rule 'ssh'\n\toption dest_port '22'\n\toption target 'ACCEPT'\n", FIREWALL));
    assert!(b.wait(Duration::from_secs(3), |r| uci_get(r, "firewall", "ssh", "dest_port").as_deref() == Some("22")), "firewall replicated: {}\n{}", b.peer(), logs());
    write_atomic(&a.config("dhcp"), &DHCP.replace("'100'", "'120'"));
    assert!(b.wait(Duration::from_secs(3), |r| uci_get(r, "dhcp", "lan", "start").as_deref() == Some("120")), "dhcp replicated: {}\n{}", b.peer(), logs());
    // Heartbeats keep flowing both ways for a few seconds (past the dead-peer time).
    std::thread::sleep(Duration::from_secs(4));
    for r in [a, b] {
        assert_eq!(r.peer()["state"], "in_sync", "{} after 4 s: {}\n{}", r.ns, r.peer(), logs());
    }
    assert!(lab.a.daemon_alive() && lab.b.daemon_alive());
}

#[test]
fn the_previous_release_and_this_one_pair_and_replicate_either_way() {
    if prerequisites().is_none() {
        return;
    }
    let Some(old) = old_binary() else { return };
    // This release as the master, the previous one as the backup…
    let mut lab = Lab::new("in").unwrap();
    lab.b.bin = Some(old.clone());
    pair_and_replicate(&mut lab);
    drop(lab);
    // …and the other way round.
    let mut lab = Lab::new("io").unwrap();
    lab.a.bin = Some(old);
    pair_and_replicate(&mut lab);
}
