//! `muros-ha render` checks its candidate with the real `keepalived -t` (and the fw4
//! snippet with `nft -c`) before anything goes live.

mod render_support;

use render_support::{can_run, Netns};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_muros-ha");

struct Root(PathBuf);
impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn example(tag: &str) -> Root {
    let dir = std::env::temp_dir().join(format!("muros-verify-{}-{}", tag, std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/router-a/etc/config");
    fs::create_dir_all(dir.join("etc/config")).unwrap();
    for f in ["muros_ha", "network", "system"] {
        fs::copy(src.join(f), dir.join("etc/config").join(f)).unwrap();
    }
    Root(dir)
}

#[test]
fn keepalived_refusing_the_candidate_leaves_every_live_file_alone() {
    if !can_run("render_verify", &["keepalived", "nft"]) {
        return;
    }
    let root = example("refuse");
    let r = root.0.to_str().unwrap();
    // Install once without verification, then make a change keepalived will check.
    let out = Command::new(BIN).args(["render", "--root", r, "--no-verify", "--hook", "/usr/sbin/muros-ha"]).output().unwrap();
    assert!(out.status.success());
    let conf = root.0.join("etc/keepalived/keepalived.conf");
    let before = fs::read(&conf).unwrap();
    let cfg = root.0.join("etc/config/muros_ha");
    fs::write(&cfg, fs::read_to_string(&cfg).unwrap().replace("option vrid '11'", "option vrid '12'")).unwrap();

    // A namespace without the router's devices: keepalived -t says no (exit 5).
    let ns = Netns::new();
    let out = ns.exec(BIN).args(["render", "--root", r, "--hook", "/usr/sbin/muros-ha"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", err);
    assert!(err.contains("keepalived.conf failed verification") && err.contains("no file was changed"), "{}", err);
    assert!(!err.contains("Lq4vN8ct"), "secret in the error: {}", err);
    assert_eq!(fs::read(&conf).unwrap(), before);
    let leftovers: Vec<_> = fs::read_dir(conf.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "temp files left: {:?}", leftovers);
}

#[test]
fn a_candidate_keepalived_and_nft_accept_is_installed() {
    if !can_run("render_verify", &["keepalived", "nft"]) {
        return;
    }
    let root = example("accept");
    let r = root.0.to_str().unwrap();
    let mut ns = Netns::new();
    for dev in ["br-lan", "lan3.20", "eth2", "eth1"] {
        ns.add_device(dev);
    }
    let out = ns.exec(BIN).args(["render", "--root", r, "--hook", "/usr/sbin/muros-ha"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = fs::read_to_string(root.0.join("etc/keepalived/keepalived.conf")).unwrap();
    assert!(text.contains("virtual_router_id 11"));
    // The snippet nft accepted also opens the peer link, from the peer only.
    let fw = fs::read_to_string(root.0.join("etc/muros-ha/fw4-input.nft")).unwrap();
    assert!(fw.contains("iifname \"eth2\" ip saddr 198.18.0.2 tcp dport 3781 accept comment \"muros-ha: peer link\"\ntcp dport 3781 counter drop comment \"muros-ha: peer link, not from the peer\"\n"), "{}", fw);
    // Boot-time sysctls: liberal TCP windows for taken-over flows, the WAN parent's ARP.
    let sysctl = root.0.join("etc/sysctl.d/60-muros-ha.conf");
    let text = fs::read_to_string(&sysctl).unwrap();
    assert!(text.contains("\nnet.netfilter.nf_conntrack_tcp_be_liberal = 1\n"), "{}", text);
    assert!(text.contains("\nnet.ipv4.conf.eth1.arp_ignore = 1\n"), "{}", text);
    // Twice: nothing to do.
    let out = ns.exec(BIN).args(["render", "--root", r, "--hook", "/usr/sbin/muros-ha"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && !stdout.contains("wrote"), "{}", stdout);
}
