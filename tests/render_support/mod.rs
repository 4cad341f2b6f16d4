//! Shared by the render tests: the golden cases, golden-file handling, and the
//! namespace/tool plumbing of the real-tool tests.
#![allow(dead_code)]

use muros_ha::model::*;
use muros_ha::paths::Paths;
use muros_ha::render::{render_all, OutputFile, RenderContext};
use std::net::{IpAddr, Ipv4Addr};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const HOOK: &str = "/usr/sbin/muros-ha";

/// One golden case: a router's config and where its files are rendered.
pub struct Case {
    pub name: &'static str,
    /// Root the outputs are rendered for (`/` on a router, `/lab/ra` in the lab).
    pub render_root: &'static str,
    pub config: Config,
    /// Where its `etc/config` is read from.
    pub uci_root: PathBuf,
}

impl Case {
    pub fn dir(&self) -> PathBuf {
        golden_root().join(self.name)
    }
    /// Expected outputs, laid out under their router paths.
    pub fn expected_dir(&self) -> PathBuf {
        self.dir().join("expected")
    }
    pub fn render(&self) -> Vec<OutputFile> {
        let paths = Paths::new(self.render_root);
        render_all(&self.config, &RenderContext { paths: &paths, hook_binary: HOOK })
    }
    /// An output's path relative to the render root (`etc/keepalived/keepalived.conf`).
    pub fn relative(&self, out: &OutputFile) -> PathBuf {
        out.path.strip_prefix(self.render_root).map(Path::to_path_buf).unwrap_or_else(|_| out.path.clone())
    }
    pub fn expected_file(&self, router_path: &str) -> PathBuf {
        expected_file(self.name, router_path)
    }
    /// The router's own UCI files muros-ha edits, as render leaves them (relative path,
    /// text); only those the case has. Today: `etc/config/dhcp`.
    pub fn edits(&self) -> Vec<(PathBuf, String)> {
        let input = self.uci_root.join("etc/config/dhcp");
        let Ok(text) = fs::read_to_string(&input) else { return Vec::new() };
        let edit = muros_ha::render::dhcp::with_vip_gateway(&text, "/etc/config/dhcp", &self.config)
            .unwrap_or_else(|e| panic!("case {}: {e}", self.name));
        vec![(PathBuf::from("etc/config/dhcp"), edit.text)]
    }
}

/// A golden output of case `name` by its router path (`/etc/keepalived/keepalived.conf`).
pub fn expected_file(name: &str, router_path: &str) -> PathBuf {
    golden_root().join(name).join("expected").join(router_path.trim_start_matches('/'))
}

/// Every kernel device a keepalived.conf names: `interface X`, `... dev X`, and the
/// entries of `track_interface` blocks.
pub fn devices_named_in_keepalived_conf(text: &str) -> Vec<String> {
    let mut devs = Vec::new();
    let mut in_track = false;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if in_track {
            if line == "}" {
                in_track = false;
            } else if let Some(d) = words.first() {
                devs.push(d.to_string());
            }
            continue;
        }
        match words.as_slice() {
            ["track_interface", "{"] => in_track = true,
            ["interface", d] => devs.push(d.to_string()),
            [_, "dev", d, ..] => devs.push(d.to_string()),
            _ => {}
        }
    }
    devs.sort();
    devs.dedup();
    devs
}

pub fn golden_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

pub fn net(s: &str) -> IpNet {
    let (a, p) = s.split_once('/').unwrap();
    IpNet { addr: a.parse().unwrap(), prefix: p.parse().unwrap() }
}

pub fn iface(logical: &str, device: &str, addrs: &[&str]) -> Interface {
    Interface { logical: logical.into(), device: device.into(), addresses: addrs.iter().map(|a| net(a)).collect() }
}

pub fn vip(name: &str, interface: Interface, address: &str, vrid: u8, peer: Option<&str>) -> Vip {
    Vip { name: name.into(), interface, address: net(address), vrid, peer_address: peer.map(|p| p.parse().unwrap()), gateway: None }
}

pub fn wan(parent: &str) -> Wan {
    Wan { logical: "wan".into(), parent: parent.into(), device: "wan".into(), macaddr: [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01] }
}

pub fn sync_link(interface: Interface, mode: SyncMode, peer: Option<&str>) -> SyncLink {
    let local = interface.addresses.iter().find_map(|n| match n.addr {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    });
    SyncLink {
        interface,
        mode,
        port: 3780,
        multicast_group: Ipv4Addr::new(225, 0, 0, 50),
        local_address: local,
        peer_ip: peer.map(|p| p.parse().unwrap()),
    }
}

/// A plain master with one LAN VIP; cases start from it and change what they test.
pub fn base(role: Role) -> Config {
    let own = if role == Role::Master { "2" } else { "3" };
    let sync_own = if role == Role::Master { "1" } else { "2" };
    let lan = iface("lan", "br-lan", &[&format!("192.0.2.{own}/24")]);
    Config {
        enabled: true,
        role,
        priority: role.default_priority(),
        maintenance: false,
        auth_type: AuthType::Pass,
        password: Secret::new("s3cr3t-1"),
        vrrp_version: VrrpVersion::V2,
        advert_ms: 1000,
        preempt: true,
        preempt_delay_s: 0,
        sync: sync_link(iface("sync", "eth2", &[&format!("198.51.100.{sync_own}/30")]), SyncMode::Multicast, None),
        services: vec!["dnsmasq".into(), "odhcpd".into()],
        vpns: vec![],
        vpn_ports: vec![],
        vips: vec![vip("lan", lan, "192.0.2.1/24", 10, None)],
        wan: Some(wan("eth1")),
        router_id: if role == Role::Master { "gw-a".into() } else { "gw-b".into() },
        backup_route: true,
        health: vec![],
    }
}

/// The golden cases, each driven from `tests/golden/<case>/etc/config/{muros_ha,network,system}`
/// through `model::load`, so the goldens prove the whole UCI → files pipeline.
/// `(name, render root, UCI root)`: the asymmetric pair is rendered the way the lab runs
/// it, two routers on one host under their own roots. The UCI root is the case's own
/// directory unless given (the README's example pair is rendered from `examples/`).
pub const CASES: &[(&str, &str, Option<&str>)] = &[
    // Master, VRRPv2 PASS, one LAN VIP: notify sits on the lone instance.
    ("single-lan", "/", None),
    // Backup, VRRPv3 at 0.1 s, no preempt, LAN + guest + IPv6 LAN: one sync group of three.
    ("lan-guest-ipv6-v3", "/", None),
    // Master with AH over unicast VRRP and conntrackd over UDP; no WAN to track.
    ("unicast-ah", "/", None),
    // Backup, static WAN (seed 001's main case): WAN VIP with its default route, NAT to it.
    ("static-wan", "/", None),
    // A: br-lan / sync eth1 / WAN eth0 (21.02 syntax); B: eth0.1 / sync eth2 / WAN eth0.2
    // (19.07 syntax), B in maintenance.
    ("asym-a", "/lab/ra", None),
    ("asym-b-maintenance", "/lab/rb", None),
    // The shipped example pair: AH by default, LAN + guest, peer_ip set in multicast mode.
    ("example-router-a", "/", Some("examples/router-a")),
    ("example-router-b", "/", Some("examples/router-b")),
];

pub fn cases() -> Vec<Case> {
    CASES
        .iter()
        .map(|&(name, render_root, uci_root)| {
            let dir = match uci_root {
                Some(d) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(d),
                None => golden_root().join(name),
            };
            let config = muros_ha::model::load(&Paths::new(&dir)).unwrap_or_else(|errs| {
                let list: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
                panic!("golden case {name} does not load:\n{}", list.join("\n"))
            });
            Case { name, render_root, config, uci_root: dir }
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Real-tool plumbing.

#[path = "../fs_support/mod.rs"]
mod fs_support;
#[allow(unused_imports)] // each test crate uses its own part
pub use fs_support::{unique, TempDir};

/// True when the real-tool test can run. Without root or a tool it fails under
/// `CI=true` and otherwise skips with the reason printed.
pub fn can_run(test: &str, tools: &[&str]) -> bool {
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    let mut reasons = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        reasons.push("needs root (network namespaces)".to_string());
    }
    for t in tools {
        if find_in_path(t).is_none() {
            reasons.push(format!("`{t}` not installed"));
        }
    }
    if reasons.is_empty() {
        return true;
    }
    let msg = format!("{test}: {}", reasons.join(", "));
    if ci {
        panic!("CI=true and {msg}");
    }
    // Straight to stderr: libtest captures eprintln! of passing tests, and a skip must show.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {msg}");
    false
}

pub fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Run a command, panicking with its output when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed ({}): {text}", out.status);
    text
}

/// A network namespace deleted on drop (also when the test panics).
pub struct Netns {
    pub name: String,
    veths: usize,
}

impl Netns {
    pub fn new() -> Netns {
        let name = unique("mrender");
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name, veths: 0 };
        run(Command::new("ip").args(["-n", &ns.name, "link", "set", "lo", "up"]));
        ns
    }
    /// A veth named `dev` (its peer gets a throwaway name), both ends up.
    pub fn add_device(&mut self, dev: &str) {
        let peer = format!("mrp{}", self.veths);
        self.veths += 1;
        run(Command::new("ip").args(["-n", &self.name, "link", "add", dev, "type", "veth", "peer", "name", &peer]));
        run(Command::new("ip").args(["-n", &self.name, "link", "set", dev, "up"]));
        run(Command::new("ip").args(["-n", &self.name, "link", "set", &peer, "up"]));
    }
    pub fn add_address(&self, dev: &str, cidr: &str) {
        run(Command::new("ip").args(["-n", &self.name, "addr", "add", cidr, "dev", dev, "nodad"]));
    }
    /// `ip netns exec <ns> <program>` (ip execs it: the child's PID is the program's).
    pub fn exec(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Two namespaces wired like a pair: one veth per shared link, both ends carrying the
/// same device name in their own namespace; plus a lone veth per router for the WAN
/// parent that keepalived tracks.
pub struct Pair {
    pub ns: [String; 2],
}

impl Pair {
    pub fn new() -> Pair {
        let ns = [unique("mpa"), unique("mpb")];
        for n in &ns {
            run(Command::new("ip").args(["netns", "add", n]));
        }
        let pair = Pair { ns };
        for n in &pair.ns {
            run(Command::new("ip").args(["-n", n, "link", "set", "lo", "up"]));
            // No duplicate address detection: link-local addresses (which IPv6 VRRP
            // sends from) are usable at once instead of after a second or two.
            for key in ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"] {
                run(Command::new("ip").args(["netns", "exec", n, "sysctl", "-q", "-w", key]));
            }
        }
        pair
    }
    /// A link between the routers named `dev` on both sides.
    pub fn link(&self, dev: &str) {
        let tmp = format!("mpx{}", std::process::id() % 100000);
        run(Command::new("ip").args(["-n", &self.ns[0], "link", "add", dev, "type", "veth", "peer", "name", &tmp]));
        run(Command::new("ip").args(["-n", &self.ns[0], "link", "set", &tmp, "netns", &self.ns[1]]));
        run(Command::new("ip").args(["-n", &self.ns[1], "link", "set", &tmp, "name", dev]));
        for n in &self.ns {
            run(Command::new("ip").args(["-n", n, "link", "set", dev, "up"]));
        }
    }
    /// A device only router `i` has (its WAN parent), up.
    pub fn lone(&self, i: usize, dev: &str) {
        let peer = format!("{}-p", dev);
        run(Command::new("ip").args(["-n", &self.ns[i], "link", "add", dev, "type", "veth", "peer", "name", &peer]));
        run(Command::new("ip").args(["-n", &self.ns[i], "link", "set", dev, "up"]));
        run(Command::new("ip").args(["-n", &self.ns[i], "link", "set", &peer, "up"]));
    }
    pub fn addr(&self, i: usize, dev: &str, cidr: &str) {
        run(Command::new("ip").args(["-n", &self.ns[i], "addr", "add", cidr, "dev", dev]));
    }
    /// Packets router `i`'s firewall accepted by rules whose comment starts with `what`
    /// (e.g. `muros-ha: VRRP`), from the rules' counters.
    pub fn accepted(&self, i: usize, what: &str) -> u64 {
        let out = Command::new("ip").args(["netns", "exec", &self.ns[i], "nft", "list", "ruleset"]).output();
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains(&format!("comment \"{what}")))
            .filter_map(|l| l.split("counter packets ").nth(1)?.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }
    pub fn has_address(&self, i: usize, dev: &str, addr: &str) -> bool {
        let out = Command::new("ip").args(["-n", &self.ns[i], "-o", "addr", "show", "dev", dev]).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(" {}/", addr))).unwrap_or(false)
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for n in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// Load `cfg`'s rendered fw4 snippet into namespace `ns`, inside an input chain with
/// policy drop as fw4 would (files go to `dir`): from then on only what the snippet
/// accepts reaches the daemons.
pub fn load_firewall(ns: &str, dir: &Path, cfg: &Config) {
    use muros_ha::render::firewall;
    fs::create_dir_all(dir).unwrap();
    let snippet = dir.join("30-muros-ha.nft");
    fs::write(&snippet, firewall::render(cfg)).unwrap();
    let ruleset = dir.join("fw4-input.nft");
    fs::write(&ruleset, firewall::check_ruleset(&snippet)).unwrap();
    run(Command::new("ip").args(["netns", "exec", ns, "nft", "-f"]).arg(&ruleset));
}

/// A daemon started by a test, stopped by PID on drop (TERM, then KILL after 10 s).
pub struct Daemon(Option<Child>);

impl Daemon {
    pub fn new(child: Child) -> Daemon {
        Daemon(Some(child))
    }
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let child = self.0.as_ref().expect("daemon running");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).expect("signal daemon");
    }
    /// Exited already? (Its status, if so.)
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }
    pub fn stop(&mut self) {
        let Some(mut child) = self.0.take() else { return };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Poll `cond` every 50 ms until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// A minimal line diff (LCS) for golden mismatches: `-` expected, `+` rendered.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut l = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            l[i][j] = if a[i] == b[j] { l[i + 1][j + 1] + 1 } else { l[i + 1][j].max(l[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || l[i][j + 1] >= l[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}
