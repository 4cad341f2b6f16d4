//! Two real keepalived 2.2.x daemons, each in its own network namespace, running the
//! rendered keepalived.conf of a pair: exactly one becomes master, the notify line calls
//! the hook with `notify --root <root>` plus keepalived's four arguments, the notify
//! FIFO carries the same events, and stopping the master moves the VIPs — all behind
//! the rendered fw4 snippet in an input chain whose policy is drop.
//!
//! The hook is an argv recorder (a four-line sh script) standing in for
//! `muros-ha notify`: what is under test is what keepalived passes to it. Needs root.

mod render_support;

use muros_ha::model::*;
use muros_ha::paths::Paths;
use muros_ha::render::{keepalived, RenderContext};
use render_support::{base, can_run, iface, load_firewall, sync_link, unique, vip, wait_for, Daemon, Pair, TempDir};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The recorder appends its whole argv to `<root>/notify.log`.
const RECORDER: &str = "#!/bin/sh\n\
# argv recorder standing in for `muros-ha notify` in the render pair test\n\
[ \"$1\" = notify ] && [ \"$2\" = --root ] || exit 2\n\
printf '%s\\n' \"$*\" >> \"$3/notify.log\"\n";

/// The recorder's directory, removed on drop. keepalived's script security refuses a
/// root script under a directory others can write (such as /tmp), so it lives under
/// cargo's target dir.
struct Hook(PathBuf);

impl Hook {
    fn new() -> Hook {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("pair-hook-"));
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let p = dir.join("muros-ha");
        fs::write(&p, RECORDER).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        Hook(dir)
    }
    fn binary(&self) -> PathBuf {
        self.0.join("muros-ha")
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// keepalived in the foreground in a namespace (`ip netns exec` execs it, so the
/// child's PID is keepalived's parent process).
fn start_keepalived(ns: &str, root: &Path) -> Daemon {
    let paths = Paths::new(root);
    let child = Command::new("ip")
        .args(["netns", "exec", ns, "keepalived", "--dont-fork", "--vrrp", "--log-console", "--use-file"])
        .arg(paths.keepalived_conf())
        .arg("--pid")
        .arg(paths.keepalived_pid())
        .arg("--vrrp_pid")
        .arg(paths.join("/var/run/keepalived_vrrp.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn keepalived");
    Daemon::new(child)
}

fn log(root: &Path) -> String {
    fs::read_to_string(root.join("notify.log")).unwrap_or_default()
}

/// Whatever keepalived has written into the notify FIFO so far (it holds the FIFO open
/// read-write itself, so the lines wait in the pipe until someone reads).
fn drain_fifo(path: &Path) -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(mut f) = fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_NONBLOCK).open(path) else {
        return String::new();
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = f.read(&mut chunk) {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Render both routers under `tmp/ra`, `tmp/rb`, load each one's fw4 snippet behind an
/// input policy of drop (so the adverts must pass our rules), start keepalived.
/// Returns the roots and daemons for the scenario to continue with.
fn start_pair(pair: &Pair, tmp: &TempDir, cfgs: [&Config; 2], hook: &Path) -> ([PathBuf; 2], [Daemon; 2]) {
    let roots = [tmp.0.join("ra"), tmp.0.join("rb")];
    let mut daemons = Vec::new();
    for i in 0..2 {
        write_conf(&roots[i], cfgs[i], hook);
        load_firewall(&pair.ns[i], &roots[i].join("fw"), cfgs[i]);
        daemons.push(start_keepalived(&pair.ns[i], &roots[i]));
    }
    let b = daemons.pop().unwrap();
    let a = daemons.pop().unwrap();
    (roots, [a, b])
}

/// A's adverts reach B through B's firewall, and B stays backup for longer than its
/// master-down timer (3 adverts + skew): no split brain behind the rendered rules.
fn assert_no_split_brain(pair: &Pair, advert_ms: u32, dev: &str, vip: &str) {
    assert!(
        wait_for(Duration::from_secs(2), || pair.accepted(1, "muros-ha: VRRP") > 0),
        "B's firewall accepted no VRRP advert"
    );
    std::thread::sleep(Duration::from_millis(u64::from(advert_ms) * 4 + 200));
    assert!(!pair.has_address(1, dev, vip), "both routers hold {vip}: adverts do not pass B's firewall");
}

/// Render `cfg`'s keepalived.conf under `root` (0600), with the state dir for the FIFO.
fn write_conf(root: &Path, cfg: &Config, hook: &Path) {
    let paths = Paths::new(root);
    fs::create_dir_all(paths.state_dir()).unwrap();
    fs::create_dir_all(paths.keepalived_conf().parent().unwrap()).unwrap();
    let hook_s = hook.display().to_string();
    let text = keepalived::render(cfg, &RenderContext { paths: &paths, hook_binary: &hook_s });
    fs::write(paths.keepalived_conf(), text).unwrap();
    fs::set_permissions(paths.keepalived_conf(), fs::Permissions::from_mode(0o600)).unwrap();
}

fn pair_configs(mut a: Config, mut b: Config) -> (Config, Config) {
    // B mirrors A with its own addresses (.3 on the LANs, .2 on the sync link).
    for v in &mut b.vips {
        for n in &mut v.interface.addresses {
            if let std::net::IpAddr::V4(x) = n.addr {
                let o = x.octets();
                n.addr = std::net::Ipv4Addr::new(o[0], o[1], o[2], o[3] + 1).into();
            }
        }
    }
    a.router_id = "pair-a".into();
    b.router_id = "pair-b".into();
    (a, b)
}

#[test]
fn rendered_ah_pair_elects_one_master_notifies_the_group_and_fails_over() {
    if !can_run("vrrp pair (AH, sync group)", &["ip", "keepalived", "nft"]) {
        return;
    }
    // The product default: VRRPv2 with AH, multicast, two VIPs in the sync group.
    let mut a = base(Role::Master);
    a.auth_type = AuthType::Ah;
    a.vips.push(vip("guest", iface("guest", "br-guest", &["203.0.113.2/24"]), "203.0.113.1/24", 11, None));
    let mut b = a.clone();
    b.role = Role::Backup;
    b.priority = Role::Backup.default_priority();
    b.sync = sync_link(iface("sync", "eth2", &["198.51.100.2/30"]), SyncMode::Multicast, None);
    let (a, b) = pair_configs(a, b);

    let pair = Pair::new();
    for dev in ["br-lan", "br-guest", "eth2"] {
        pair.link(dev);
    }
    for i in 0..2 {
        pair.lone(i, "eth1");
        pair.addr(i, "br-lan", &format!("192.0.2.{}/24", 2 + i));
        pair.addr(i, "br-guest", &format!("203.0.113.{}/24", 2 + i));
        pair.addr(i, "eth2", &format!("198.51.100.{}/30", 1 + i));
    }
    let tmp = TempDir::new();
    let hook = Hook::new();
    let (roots, [mut ka, _kb]) = start_pair(&pair, &tmp, [&a, &b], &hook.binary());

    let t0 = Instant::now();
    let elected = wait_for(Duration::from_secs(20), || {
        pair.has_address(0, "br-lan", "192.0.2.1") && log(&roots[0]).contains("GROUP muros_ha MASTER")
    });
    assert!(elected, "A never became master; A log:\n{}\nB log:\n{}", log(&roots[0]), log(&roots[1]));
    eprintln!("AH pair: A master after {:?}", t0.elapsed());
    assert!(pair.has_address(0, "br-guest", "203.0.113.1"), "the group moved only part of the VIPs");
    assert_no_split_brain(&pair, a.advert_ms, "br-lan", "192.0.2.1");
    assert!(
        wait_for(Duration::from_secs(5), || log(&roots[1]).contains("GROUP muros_ha BACKUP")),
        "B log:\n{}",
        log(&roots[1])
    );
    // The exact argv: our two words, the root, then keepalived's TYPE NAME STATE PRIO.
    // keepalived 2.2.7 passes priority 0 for a sync group (a group has no priority).
    let want = format!("notify --root {} GROUP muros_ha MASTER 0", roots[0].display());
    assert!(log(&roots[0]).lines().any(|l| l == want), "no line `{want}` in:\n{}", log(&roots[0]));
    let fifo = drain_fifo(&Paths::new(&roots[0]).notify_fifo());
    assert!(fifo.contains("GROUP \"muros_ha\" MASTER"), "notify FIFO had:\n{fifo}");
    assert!(fifo.contains("INSTANCE \"lan\" MASTER"), "notify FIFO had:\n{fifo}");

    // Master gone: B takes both VIPs.
    ka.stop();
    let t1 = Instant::now();
    let took_over = wait_for(Duration::from_secs(20), || {
        pair.has_address(1, "br-lan", "192.0.2.1") && pair.has_address(1, "br-guest", "203.0.113.1")
    });
    assert!(took_over, "B never took over; B log:\n{}", log(&roots[1]));
    // A stopping keepalived tells the hook so (the hook must release the WAN on STOP).
    let stopped = wait_for(Duration::from_secs(5), || log(&roots[0]).lines().last().is_some_and(|l| l.ends_with("GROUP muros_ha STOP 0")));
    assert!(stopped, "A log:\n{}", log(&roots[0]));
    eprintln!("AH pair: B master {:?} after A stopped", t1.elapsed());
    assert!(wait_for(Duration::from_secs(5), || log(&roots[1]).contains("GROUP muros_ha MASTER 0")), "{}", log(&roots[1]));
}

#[test]
fn rendered_v3_unicast_pair_with_one_vip_notifies_the_instance_and_hands_over_in_maintenance() {
    if !can_run("vrrp pair (v3 unicast, one VIP)", &["ip", "keepalived", "nft"]) {
        return;
    }
    let mut a = base(Role::Master);
    a.vrrp_version = VrrpVersion::V3;
    a.advert_ms = 100;
    a.auth_type = AuthType::None;
    a.password = Secret::default();
    a.sync = sync_link(iface("sync", "eth2", &["198.51.100.1/30"]), SyncMode::Unicast, Some("198.51.100.2"));
    a.vips[0].peer_address = Some("192.0.2.3".parse().unwrap());
    let mut b = a.clone();
    b.role = Role::Backup;
    b.priority = Role::Backup.default_priority();
    b.sync = sync_link(iface("sync", "eth2", &["198.51.100.2/30"]), SyncMode::Unicast, Some("198.51.100.1"));
    b.vips[0].peer_address = Some("192.0.2.2".parse().unwrap());
    let (a, b) = pair_configs(a, b);

    let pair = Pair::new();
    for dev in ["br-lan", "eth2"] {
        pair.link(dev);
    }
    for i in 0..2 {
        pair.lone(i, "eth1");
        pair.addr(i, "br-lan", &format!("192.0.2.{}/24", 2 + i));
        pair.addr(i, "eth2", &format!("198.51.100.{}/30", 1 + i));
    }
    let tmp = TempDir::new();
    let hook = Hook::new();
    let (roots, [mut ka, _kb]) = start_pair(&pair, &tmp, [&a, &b], &hook.binary());

    let elected = wait_for(Duration::from_secs(10), || log(&roots[0]).contains("INSTANCE lan MASTER 150"));
    assert!(elected, "A never became master; A log:\n{}\nB log:\n{}", log(&roots[0]), log(&roots[1]));
    assert!(pair.has_address(0, "br-lan", "192.0.2.1"));
    assert!(wait_for(Duration::from_secs(5), || log(&roots[1]).contains("INSTANCE lan BACKUP")), "{}", log(&roots[1]));
    assert_no_split_brain(&pair, a.advert_ms, "br-lan", "192.0.2.1");
    assert!(!log(&roots[0]).contains("GROUP"), "a single VIP must not produce group events");

    // Maintenance on A: re-rendered at priority 1 and reloaded, B (100) preempts.
    let mut a_maint = a.clone();
    a_maint.maintenance = true;
    write_conf(&roots[0], &a_maint, &hook.binary());
    ka.signal(nix::sys::signal::Signal::SIGHUP);
    let t1 = Instant::now();
    assert!(wait_for(Duration::from_secs(10), || pair.has_address(1, "br-lan", "192.0.2.1")), "B never took over:\n{}", log(&roots[1]));
    let gap = t1.elapsed();
    eprintln!("v3 0.1 s unicast pair: B master {gap:?} after A's maintenance reload");
    assert!(gap < Duration::from_secs(2), "handover took {gap:?}");
    assert!(wait_for(Duration::from_secs(5), || !pair.has_address(0, "br-lan", "192.0.2.1")), "A kept the VIP in maintenance");
    assert!(wait_for(Duration::from_secs(5), || log(&roots[0]).contains("INSTANCE lan BACKUP 1")), "{}", log(&roots[0]));
    ka.stop();
    // The hook may still be running when keepalived has exited.
    let stopped = wait_for(Duration::from_secs(5), || log(&roots[0]).lines().last().is_some_and(|l| l.ends_with("INSTANCE lan STOP 1")));
    assert!(stopped, "A log:\n{}", log(&roots[0]));
}

#[test]
fn rendered_v3_pair_moves_an_ipv4_and_an_ipv6_vip_together() {
    if !can_run("vrrp pair (v3, IPv4 + IPv6)", &["ip", "keepalived", "nft", "sysctl"]) {
        return;
    }
    // keepalived runs the IPv6 VIP as its own instance (own VRID space per family); the
    // sync group must still move both at once.
    let mut a = base(Role::Master);
    a.vrrp_version = VrrpVersion::V3;
    a.advert_ms = 100;
    a.auth_type = AuthType::None;
    a.password = Secret::default();
    let lan = iface("lan", "br-lan", &["192.0.2.2/24", "2001:db8:0:1::2/64"]);
    a.vips = vec![vip("lan", lan.clone(), "192.0.2.1/24", 10, None), vip("lan6", lan, "2001:db8:0:1::1/64", 10, None)];
    let mut b = a.clone();
    b.role = Role::Backup;
    b.priority = Role::Backup.default_priority();
    b.sync = sync_link(iface("sync", "eth2", &["198.51.100.2/30"]), SyncMode::Multicast, None);
    let (a, b) = pair_configs(a, b);

    let pair = Pair::new();
    for dev in ["br-lan", "eth2"] {
        pair.link(dev);
    }
    for i in 0..2 {
        pair.lone(i, "eth1");
        pair.addr(i, "br-lan", &format!("192.0.2.{}/24", 2 + i));
        pair.addr(i, "br-lan", &format!("2001:db8:0:1::{}/64", 2 + i));
        pair.addr(i, "eth2", &format!("198.51.100.{}/30", 1 + i));
    }
    let tmp = TempDir::new();
    let hook = Hook::new();
    let (roots, [mut ka, _kb]) = start_pair(&pair, &tmp, [&a, &b], &hook.binary());

    let elected = wait_for(Duration::from_secs(10), || {
        pair.has_address(0, "br-lan", "192.0.2.1") && pair.has_address(0, "br-lan", "2001:db8:0:1::1")
    });
    assert!(elected, "A never held both VIPs; A log:\n{}\nB log:\n{}", log(&roots[0]), log(&roots[1]));
    assert!(wait_for(Duration::from_secs(5), || log(&roots[0]).contains("GROUP muros_ha MASTER 0")), "{}", log(&roots[0]));
    assert_no_split_brain(&pair, a.advert_ms, "br-lan", "2001:db8:0:1::1");
    assert!(!pair.has_address(1, "br-lan", "192.0.2.1"), "both routers hold the IPv4 VIP");

    ka.stop();
    let moved = wait_for(Duration::from_secs(10), || {
        pair.has_address(1, "br-lan", "192.0.2.1") && pair.has_address(1, "br-lan", "2001:db8:0:1::1")
    });
    assert!(moved, "B did not take both VIPs; B log:\n{}", log(&roots[1]));
}
