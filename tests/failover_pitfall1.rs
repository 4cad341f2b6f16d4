//! Pitfall 1, proven with two real conntrackds: when the old master's WAN goes down,
//! masquerade deletes that interface's conntrack entries and conntrackd would replicate
//! the deletions to the new master. The BACKUP plan empties conntrackd's internal cache
//! first, so the deletions stay local.
//!
//! Two network namespaces joined by a veth sync link, a conntrackd in each (FTFW over
//! UDP). A flow is injected on router A (the master) and replicated into B's external
//! cache. A's "WAN down" is netifd's stand-in deleting A's conntrack entries, as the
//! kernel does. Needs root.

mod failover_support;

use failover_support::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;


struct Pair {
    ns: [String; 2],
    confs: [PathBuf; 2],
    children: Vec<Child>,
}

impl Drop for Pair {
    fn drop(&mut self) {
        for conf in &self.confs {
            if let Some(pid) = pid_of_conntrackd(conf) {
                kill(pid);
            }
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn pid_of_conntrackd(conf: &Path) -> Option<u32> {
    let want = conf.display().to_string();
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
        let cmdline = fs::read(e.path().join("cmdline")).ok()?;
        let is_ctd = fs::read_to_string(e.path().join("comm")).ok()?.trim() == "conntrackd";
        (is_ctd && cmdline.split(|b| *b == 0).any(|w| w == want.as_bytes())).then_some(pid)
    })
}

fn sh(args: &[&str]) {
    let ok = Command::new(args[0]).args(&args[1..]).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap().success();
    assert!(ok, "{args:?} failed");
}

fn conntrackd_conf(root: &Path, me: &str, peer: &str, dev: &str) -> PathBuf {
    let conf = root.join("etc/conntrackd/conntrackd.conf");
    fs::create_dir_all(conf.parent().unwrap()).unwrap();
    fs::create_dir_all(root.join("var/lock")).unwrap();
    fs::create_dir_all(root.join("var/run/ubus")).unwrap();
    let r = root.display();
    fs::write(
        &conf,
        format!(
            "Sync {{\n Mode FTFW {{\n  DisableExternalCache Off\n  PurgeTimeout 5\n }}\n\
             UDP {{\n  IPv4_address {me}\n  IPv4_Destination_Address {peer}\n  Port 3780\n  Interface {dev}\n  Checksum on\n }}\n}}\n\
             General {{\n HashSize 8192\n HashLimit 65535\n LogFile {r}/conntrackd.log\n Syslog off\n\
             LockFile {r}/var/lock/conntrackd.lock\n UNIX {{\n  Path {r}/var/run/conntrackd.ctl\n }}\n\
             Filter From Userspace {{\n  Address Ignore {{\n   IPv4_address 127.0.0.1\n   IPv4_address 198.18.0.0/30\n  }}\n }}\n}}\n"
        ),
    )
    .unwrap();
    conf
}

/// The flows in B's external cache (what B would commit on takeover).
fn external_cache(ns: &str, conf: &Path) -> String {
    let o = Command::new("ip").args(["netns", "exec", ns, "conntrackd", "-C"]).arg(conf).arg("-e").output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn inject_flow(ns: &str, src: &str, sport: &str) {
    sh(&[
        "ip", "netns", "exec", ns, "conntrack", "-I", "-p", "tcp", "-s", src, "-d", "198.51.100.20", "--sport", sport,
        "--dport", "443", "--state", "ESTABLISHED", "-t", "300", "-u", "ASSURED,SEEN_REPLY",
    ]);
}

#[test]
fn backup_transition_does_not_replicate_the_wan_flush_to_the_new_master() {
    if !require_root("pitfall 1 lab") {
        return;
    }
    let id = std::process::id();
    let (ra, rb) = (TestRoot::new("p1-ra"), TestRoot::new("p1-rb"));
    let ns = [format!("mfo-p1a-{id}"), format!("mfo-p1b-{id}")];
    let (va, vb) = (format!("mfp1a{}", id % 100_000), format!("mfp1b{}", id % 100_000));
    let conf_a = conntrackd_conf(&ra.dir, "198.18.0.1", "198.18.0.2", &va);
    let conf_b = conntrackd_conf(&rb.dir, "198.18.0.2", "198.18.0.1", &vb);
    let mut pair = Pair { ns: ns.clone(), confs: [conf_a.clone(), conf_b.clone()], children: Vec::new() };
    sh(&["ip", "netns", "add", &ns[0]]);
    sh(&["ip", "netns", "add", &ns[1]]);
    sh(&["ip", "link", "add", &va, "type", "veth", "peer", "name", &vb]);
    sh(&["ip", "link", "set", &va, "netns", &ns[0]]);
    sh(&["ip", "link", "set", &vb, "netns", &ns[1]]);
    sh(&["ip", "-n", &ns[0], "addr", "add", "198.18.0.1/30", "dev", &va]);
    sh(&["ip", "-n", &ns[1], "addr", "add", "198.18.0.2/30", "dev", &vb]);
    for (n, dev) in [(&ns[0], &va), (&ns[1], &vb)] {
        sh(&["ip", "-n", n, "link", "set", "lo", "up"]);
        sh(&["ip", "-n", n, "link", "set", dev, "up"]);
    }
    for (n, conf) in [(&ns[0], &conf_a), (&ns[1], &conf_b)] {
        sh(&["ip", "netns", "exec", n, "conntrackd", "-C", conf.to_str().unwrap(), "-d"]);
    }

    // Router A's bus: a netifd stand-in whose `down` deletes A's flows from 192.0.2.0/24,
    // which is what masquerade does to the WAN's entries when the WAN goes down.
    let sock = ra.dir.join("var/run/ubus/ubus.sock");
    pair.children.push(Command::new(format!("{}/ubusd", openwrt_tools())).arg("-s").arg(&sock).spawn().unwrap());
    assert!(wait_until(Duration::from_secs(5), || sock.exists()));
    let down_cmd = serde_json::json!(["ip", "netns", "exec", ns[0], "conntrack", "-D", "-s", "192.0.2.10"]).to_string();
    pair.children.push(
        Command::new(ucode())
            .arg("-L").arg(ucode_modules())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/failover_support/netifd_standin.uc"))
            .env("UBUS_SOCKET", &sock)
            .env("NETIF_NAME", "wan")
            .env("NETIF_LOG", ra.dir.join("netif.log"))
            .env("NETIF_DOWN_CMD", &down_cmd)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    sh(&[&format!("{}/ubus", openwrt_tools()), "-s", sock.to_str().unwrap(), "-t", "5", "wait_for", "network.interface.wan"]);
    ra.set_inputs(true, Some("wan"), &[]);

    // Control first: a flow deleted on A *without* our BACKUP plan vanishes from B too.
    inject_flow(&ns[0], "192.0.2.11", "40001");
    assert!(
        wait_until(Duration::from_secs(5), || external_cache(&ns[1], &conf_b).contains("src=192.0.2.11")),
        "the flow never reached B: the lab does not replicate"
    );
    sh(&["ip", "netns", "exec", &ns[0], "conntrack", "-D", "-s", "192.0.2.11"]);
    assert!(
        wait_until(Duration::from_secs(5), || !external_cache(&ns[1], &conf_b).contains("src=192.0.2.11")),
        "B kept a flow A deleted without the hook: this lab cannot show pitfall 1"
    );

    // The real thing: A (master) goes BACKUP through muros-ha; its WAN-down deletes the flow.
    inject_flow(&ns[0], "192.0.2.10", "40000");
    assert!(wait_until(Duration::from_secs(5), || external_cache(&ns[1], &conf_b).contains("src=192.0.2.10")));
    let o = Command::new("ip")
        .args(["netns", "exec", &ns[0], muros_bin(), "notify", "--root"])
        .arg(&ra.dir)
        .args(["GROUP", "muros_ha", "BACKUP", "100"])
        .env("PATH", default_path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let rec = ra.history().pop().unwrap();
    assert_eq!(rec["ok"], true, "{rec:#}");
    let kernel_a = Command::new("ip").args(["netns", "exec", &ns[0], "conntrack", "-L"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&kernel_a.stdout).contains("src=192.0.2.10"),
        "the WAN-down stand-in did not delete A's flow"
    );
    // Give a replicated deletion every chance to arrive (the control saw it within ms).
    std::thread::sleep(Duration::from_millis(500));
    let b = external_cache(&ns[1], &conf_b);
    assert!(b.contains("src=192.0.2.10"), "the new master lost the flow:\n{b}");
    drop(pair);
}
