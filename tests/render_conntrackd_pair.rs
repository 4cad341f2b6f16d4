//! Two real conntrackd 1.4.x daemons, each in its own network namespace joined by the
//! sync link, running the rendered conntrackd.conf of a pair: a forwarded flow created
//! on A reaches B's external cache and commits into B's kernel table (the takeover
//! path), while a flow of A's own address is filtered out by `Address Ignore`. The
//! sync traffic passes the rendered fw4 snippet in an input chain whose policy is drop.
//! Needs root.

mod render_support;

use muros_ha::model::*;
use muros_ha::paths::Paths;
use muros_ha::render::conntrackd;
use render_support::{base, can_run, iface, load_firewall, run, sync_link, wait_for, Daemon, Pair, TempDir};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A client behind the LAN VIP talking to a server out on the WAN: a forwarded flow.
const CLIENT: &str = "192.0.2.100";
/// A's own LAN address: a flow of the router itself, which must not be replicated.
const ROUTER_A_LAN: &str = "192.0.2.2";
const SERVER: &str = "203.0.113.50";

fn conntrackd_cmd(ns: &str, conf: &Path) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "conntrackd", "-C"]).arg(conf);
    c
}

fn query(ns: &str, conf: &Path, flag: &str) -> String {
    let out = conntrackd_cmd(ns, conf).arg(flag).output().expect("spawn conntrackd client");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An established TCP entry `src:sport → SERVER:443` in the kernel table of `ns`.
fn insert_flow(ns: &str, src: &str, sport: &str) {
    run(Command::new("ip").args([
        "netns", "exec", ns, "conntrack", "-I", "-p", "tcp", "-s", src, "-d", SERVER, "--sport", sport, "--dport", "443",
        "--state", "ESTABLISHED", "-t", "600", "-u", "ASSURED",
    ]));
}

fn replicate_and_commit(a: Config, b: Config) {
    let pair = Pair::new();
    pair.link(&a.sync.interface.device);
    for (i, cfg) in [&a, &b].into_iter().enumerate() {
        for n in &cfg.sync.interface.addresses {
            pair.addr(i, &cfg.sync.interface.device, &n.to_string());
        }
    }
    let tmp = TempDir::new();
    let mut confs: Vec<PathBuf> = Vec::new();
    let mut daemons: Vec<Daemon> = Vec::new();
    for (i, cfg) in [&a, &b].into_iter().enumerate() {
        let paths = Paths::new(tmp.0.join(if i == 0 { "ra" } else { "rb" }));
        for p in [paths.conntrackd_conf(), paths.conntrackd_lock(), paths.conntrackd_ctl()] {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
        }
        fs::write(paths.conntrackd_conf(), conntrackd::render(cfg, &paths)).unwrap();
        load_firewall(&pair.ns[i], &paths.join("/fw"), cfg);
        let child = conntrackd_cmd(&pair.ns[i], &paths.conntrackd_conf())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn conntrackd");
        daemons.push(Daemon::new(child));
        confs.push(paths.conntrackd_conf());
    }
    for i in 0..2 {
        let up = wait_for(Duration::from_secs(10), || query(&pair.ns[i], &confs[i], "-s").contains("cache internal"));
        assert!(up, "conntrackd {} never answered; exited: {:?}", i, daemons[i].exited());
    }

    insert_flow(&pair.ns[0], CLIENT, "40000");
    insert_flow(&pair.ns[0], ROUTER_A_LAN, "40001");

    let arrived = wait_for(Duration::from_secs(10), || query(&pair.ns[1], &confs[1], "-e").contains(CLIENT));
    assert!(arrived, "B's external cache never got the forwarded flow:\n{}", query(&pair.ns[1], &confs[1], "-e"));
    // Both flows left A together; give a straggler the same chance before judging.
    std::thread::sleep(Duration::from_millis(500));
    let external = query(&pair.ns[1], &confs[1], "-e");
    assert!(!external.contains(ROUTER_A_LAN), "A's own flow was replicated:\n{external}");

    // Takeover on B: commit the external cache into the kernel.
    run(conntrackd_cmd(&pair.ns[1], &confs[1]).arg("-c"));
    let kernel = run(Command::new("ip").args(["netns", "exec", &pair.ns[1], "conntrack", "-L"]));
    assert!(kernel.contains(&format!("src={CLIENT} dst={SERVER}")), "B's kernel table after commit:\n{kernel}");
    drop(daemons);
}

fn pair_of(mode: SyncMode) -> (Config, Config) {
    let mut a = base(Role::Master);
    let mut b = base(Role::Backup);
    a.sync = sync_link(iface("sync", "eth2", &["198.51.100.1/30"]), mode, (mode == SyncMode::Unicast).then_some("198.51.100.2"));
    b.sync = sync_link(iface("sync", "eth2", &["198.51.100.2/30"]), mode, (mode == SyncMode::Unicast).then_some("198.51.100.1"));
    (a, b)
}

#[test]
fn a_forwarded_flow_reaches_the_peer_over_multicast_and_commits_on_takeover() {
    if !can_run("conntrackd pair (multicast)", &["ip", "conntrackd", "conntrack", "nft"]) {
        return;
    }
    let (a, b) = pair_of(SyncMode::Multicast);
    replicate_and_commit(a, b);
}

#[test]
fn a_forwarded_flow_reaches_the_peer_over_udp_and_commits_on_takeover() {
    if !can_run("conntrackd pair (udp)", &["ip", "conntrackd", "conntrack", "nft"]) {
        return;
    }
    let (a, b) = pair_of(SyncMode::Unicast);
    replicate_and_commit(a, b);
}
