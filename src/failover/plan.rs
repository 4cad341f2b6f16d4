//! Transition + config → the ordered list of actions. Pure: no I/O, same input, same plan.
//!
//! Order matters more than anything else here; the reasons sit beside each step.

use super::{GroupState, Transition};
use crate::model::Config;
use crate::paths::Paths;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr};

/// What the plan needs from the configuration. Kept apart from [`Config`] so the hook can
/// cache the last good copy (`state_dir/plan-inputs.json`) and still fail over when the
/// UCI config is broken mid-edit: keepalived does not wait for the operator.
/// JSON: `{"enabled","wan","services":[…],"vips":[{"device","address"}],"backup_via"}`,
/// in this order, then `"vpns":[…]` only when there are any (so a cache without VPNs
/// reads and writes as the previous release's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanInputs {
    pub enabled: bool,
    /// Logical WAN interface driven through netifd (`network.interface.<wan>`); `null`
    /// when there is none, and missing reads as `None`, as it always did.
    pub wan: Option<String>,
    /// The WAN's device (the macvlan), for the guard; missing in older caches: no guard.
    pub wan_device: Option<String>,
    /// Services started on MASTER and stopped otherwise, in configured order.
    pub services: Vec<String>,
    /// Where keepalived puts the VIPs; `converge` looks for them.
    pub vips: Vec<VipRef>,
    /// The LAN VIP a non-master router reaches the Internet through (see
    /// [`backup_internet`]); `null` when `backup_route` is off or no VIP is IPv4. Missing
    /// (a cache from before the option) reads as `None`: no route, as then.
    pub backup_via: Option<Ipv4Addr>,
    /// `list vpn`: interfaces up on MASTER, down otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vpns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VipRef {
    pub device: String,
    /// `192.0.2.1/24`
    pub address: String,
}

impl Default for PlanInputs {
    /// Nothing known: conntrackd only (its paths come from the root, not the config).
    fn default() -> Self {
        PlanInputs { enabled: true, wan: None, wan_device: None, services: Vec::new(), vips: Vec::new(), backup_via: None, vpns: Vec::new() }
    }
}

impl PlanInputs {
    /// The cache file's text: fields in declaration order.
    pub fn to_json_bytes(&self) -> std::io::Result<Vec<u8>> {
        crate::to_json_bytes(self)
    }

    /// The cache file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let v = crate::json::parse(bytes)?;
        let o = crate::json::Obj::of(&v)?;
        let backup_via = match o.opt("backup_via") {
            None => None,
            Some(a) => Some(a.as_str().and_then(|s| s.parse().ok()).ok_or("field `backup_via` is not an IPv4 address")?),
        };
        Ok(PlanInputs {
            enabled: o.bool("enabled")?,
            wan: o.opt_string("wan")?,
            wan_device: o.opt_string("wan_device")?,
            services: o.strings("services", None)?,
            vips: o.objects("vips", |v| Ok(VipRef { device: v.string("device")?, address: v.string("address")? }))?,
            backup_via,
            vpns: o.strings("vpns", Some(Vec::new()))?,
        })
    }
}

impl From<&Config> for PlanInputs {
    fn from(c: &Config) -> Self {
        PlanInputs {
            enabled: c.enabled,
            wan: c.wan.as_ref().map(|w| w.logical.clone()),
            wan_device: c.wan.as_ref().map(|w| w.device.clone()),
            services: c.services.clone(),
            vips: c
                .vips
                .iter()
                .map(|v| VipRef { device: v.interface.device.clone(), address: v.address.to_string() })
                .collect(),
            backup_via: if c.backup_route { lan_vip(c) } else { None },
            vpns: c.vpns.clone(),
        }
    }
}

/// The VIP the backup's own traffic goes through: the IPv4 VIP on the logical interface
/// `lan` (OpenWrt's name for it; the master's dnsmasq answers there), else the first
/// IPv4 VIP in file order, which is the LAN one in every config we ship. There is no
/// IPv6 counterpart yet: an IPv6 default via a VIP would need the VIP's link-local.
fn lan_vip(c: &Config) -> Option<Ipv4Addr> {
    let v4 = |v: &&crate::model::Vip| match v.address.addr {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    };
    let on_lan = c.vips.iter().filter(|v| v.interface.logical == "lan").find_map(|v| v4(&v));
    // Never the static WAN VIP: it is on the ISP's side.
    on_lan.or_else(|| c.vips.iter().filter(|v| v.gateway.is_none()).find_map(|v| v4(&v)))
}

/// A conntrackd client command (`conntrackd -C conf <flag>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConntrackdOp {
    /// `-c`: commit the external cache (the peer's flows) into the kernel table.
    Commit,
    /// `-f internal`: forget our own flows without touching the kernel table.
    FlushInternal,
    /// `-f external`: forget the peer's flows (after they were committed).
    FlushExternal,
    /// `-R`: refill the internal cache from the kernel table.
    Resync,
    /// `-B`: send the whole internal cache to the peer.
    BulkSend,
    /// `-t`: flush the kernel table PurgeTimeout seconds from now (flows we no longer
    /// route); a later `-c` or `-f internal` cancels it, so a quick BACKUP→MASTER is safe.
    ResetTimers,
    /// `-n`: ask the peer for a full resync into our external cache.
    RequestResync,
}

impl ConntrackdOp {
    /// The request number `conntrackd` (the client) sends on the control socket for
    /// these flags (conntrack-tools 1.4.x `include/conntrackd.h`; `-c`/`-R` without an
    /// argument mean "all tables"). We send it ourselves: one fork fewer per command.
    pub fn request(self) -> i32 {
        match self {
            ConntrackdOp::Commit => 46,        // ALL_COMMIT
            ConntrackdOp::FlushInternal => 33, // CT_FLUSH_INT_CACHE
            ConntrackdOp::FlushExternal => 34, // CT_FLUSH_EXT_CACHE
            ConntrackdOp::Resync => 44,        // ALL_RESYNC_MASTER
            ConntrackdOp::BulkSend => 22,      // SEND_BULK
            ConntrackdOp::ResetTimers => 26,   // RESET_TIMERS
            ConntrackdOp::RequestResync => 23, // REQUEST_DUMP
        }
    }

    pub fn flags(self) -> &'static [&'static str] {
        match self {
            ConntrackdOp::Commit => &["-c"],
            ConntrackdOp::FlushInternal => &["-f", "internal"],
            ConntrackdOp::FlushExternal => &["-f", "external"],
            ConntrackdOp::Resync => &["-R"],
            ConntrackdOp::BulkSend => &["-B"],
            ConntrackdOp::ResetTimers => &["-t"],
            ConntrackdOp::RequestResync => &["-n"],
        }
    }
}

/// One step of a plan. `Parallel` children are independent and run at the same time;
/// `Sequence` children run in order (used inside a `Parallel`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// conntrackd answers on its control socket; if not, clear a stale lock file
    /// (pitfall 6) and start it.
    EnsureConntrackd,
    Conntrackd(ConntrackdOp),
    /// `ubus call network.interface.<name> up`: the WAN, or a `list vpn` interface.
    IfUp(String),
    /// `ubus call network.interface.<name> down`
    IfDown(String),
    /// Put the WAN device in (or take it out of) the guard group: see
    /// [`crate::render::firewall::WAN_GUARD_GROUP`].
    WanGuard { device: String, on: bool },
    /// Ask netifd (`network.interface.<wan> status`) until the WAN says up, from the
    /// cached lease or DHCP: the "VRRP event → WAN usable" figure. Changes nothing.
    WaitWan(String),
    ServiceStart(String),
    ServiceStop(String),
    /// `<init.d>/<svc> running` must say `running` (exit 0 = running).
    ExpectService { name: String, running: bool },
    Parallel(Vec<Action>),
    Sequence(Vec<Action>),
    /// ubus event `muros_ha.transition`, sent after `current` and history are written.
    Announce,
    /// The default route via the LAN VIP: installed (`ip route replace`, idempotent) or
    /// removed (`ip route del`; an absent route is fine). See [`backup_internet`].
    BackupRoute { via: Ipv4Addr, install: bool },
    /// `/tmp/resolv.conf` → `nameserver <via>` (install), or linked back to netifd's
    /// file if, and only if, it still holds what we wrote (remove).
    BackupResolver { via: Ipv4Addr, install: bool },
}

/// Metric of the backup default route. netifd gives a WAN default route metric 0 unless
/// configured (`option metric`, rarely above a few hundred), and the lower metric wins,
/// so a real WAN default route always beats this one, even while both exist.
pub const BACKUP_ROUTE_METRIC: u32 = 4096;

/// `ip -4 route replace|del default via <vip> metric 4096 protocol static`. Only the
/// keywords busybox's `ip` also knows (it matches them whole: `protocol`, not `proto`),
/// since an OpenWrt image may ship either. `del` names via, metric and protocol so it
/// can only ever remove our route.
pub fn backup_route_argv(via: Ipv4Addr, install: bool) -> Vec<String> {
    let verb = if install { "replace" } else { "del" };
    let metric = BACKUP_ROUTE_METRIC.to_string();
    ["ip", "-4", "route", verb, "default", "via", &via.to_string(), "metric", &metric, "protocol", "static"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// First line of the resolver file we write; restoring checks for it, so a file dnsmasq
/// (or the operator) wrote since is never replaced.
pub const RESOLVER_MARK: &str = "# muros-ha: not master, dnsmasq stopped; resolving through the LAN VIP";

/// The whole resolver file for `via`.
pub fn resolver_text(via: Ipv4Addr) -> String {
    format!("{}\nnameserver {}\n", RESOLVER_MARK, via)
}

/// The conntrackd client command equivalent to a request, as an operator would type it:
/// `-C conf` names the per-root config, hence the control socket (pitfall 7). The
/// executor sends the request on the socket itself instead of running this.
pub fn conntrackd_argv(paths: &Paths, op: ConntrackdOp) -> Vec<String> {
    let mut v = vec!["conntrackd".to_string(), "-C".to_string(), paths.conntrackd_conf().display().to_string()];
    v.extend(op.flags().iter().map(|s| s.to_string()));
    v
}

pub fn service_argv(paths: &Paths, service: &str, verb: &str) -> Vec<String> {
    vec![paths.init_script(service).display().to_string(), verb.to_string()]
}

impl Action {
    /// One line saying exactly what runs, for `muros-ha plan` and the history.
    pub fn describe(&self, paths: &Paths) -> String {
        match self {
            Action::EnsureConntrackd => {
                format!("ensure conntrackd answers on {} (else clear stale lock, start it)", paths.conntrackd_ctl().display())
            }
            Action::Conntrackd(op) => conntrackd_argv(paths, *op).join(" "),
            Action::IfUp(l) => format!("ubus call network.interface.{} up", l),
            Action::IfDown(l) => format!("ubus call network.interface.{} down", l),
            Action::WaitWan(l) => format!("wait for network.interface.{} status to say up", l),
            Action::WanGuard { device, on } => format!(
                "set /sys/class/net/{}/netdev_group to {} ({})",
                device,
                if *on { crate::render::firewall::WAN_GUARD_GROUP } else { 0 },
                if *on { "new flows from the WAN dropped until the commit is done" } else { "guard off" }
            ),
            Action::ServiceStart(s) => service_argv(paths, s, "start").join(" "),
            Action::ServiceStop(s) => service_argv(paths, s, "stop").join(" "),
            Action::ExpectService { name, running } => format!(
                "expect {} {}",
                service_argv(paths, name, "running").join(" "),
                if *running { "to say running" } else { "to say stopped" }
            ),
            Action::Parallel(_) => "parallel".into(),
            Action::Sequence(_) => "sequence".into(),
            Action::Announce => "ubus send muros_ha.transition {from,to,reason,time,ms}".into(),
            Action::BackupRoute { via, install } => backup_route_argv(*via, *install).join(" "),
            Action::BackupResolver { via, install: true } => {
                format!("write {}: nameserver {}", paths.resolv_conf().display(), via)
            }
            Action::BackupResolver { install: false, .. } => format!(
                "link {} -> {} if it is still ours",
                paths.resolv_conf().display(),
                crate::paths::RESOLV_CONF_AUTO
            ),
        }
    }
}

/// The plan for `t` under `cfg`.
pub fn plan(t: &Transition, cfg: &Config) -> Vec<Action> {
    plan_for(t, &PlanInputs::from(cfg))
}

/// Several independent actions: run together, or alone if only one.
fn together(mut v: Vec<Action>) -> Option<Action> {
    match v.len() {
        0 => None,
        1 => v.pop(),
        _ => Some(Action::Parallel(v)),
    }
}

/// The plan for `t` from the plan inputs.
pub fn plan_for(t: &Transition, inp: &PlanInputs) -> Vec<Action> {
    if !inp.enabled {
        // keepalived should not even run; tell listeners and touch nothing.
        return vec![Action::Announce];
    }
    let mut p = vec![Action::EnsureConntrackd];
    match t.to {
        GroupState::Master => {
            // The peer's flows must be in our kernel table before their replies reach
            // us. With a WAN, the commit (about 17 µs a flow: 0.85 s at 50k) runs beside
            // the WAN coming up, under the guard: until it is done, packets from the WAN
            // that start no known flow are dropped, not rejected, and their senders
            // retry. Without a WAN nothing waits on it, and without the WAN's device
            // (plan inputs cached by an older release) there is no guard: then it
            // comes first and alone.
            let wan_device = inp.wan.as_ref().and(inp.wan_device.as_ref());
            let guard = |on| wan_device.map(|d| Action::WanGuard { device: d.clone(), on });
            let mut commit = vec![Action::Conntrackd(ConntrackdOp::Commit)];
            commit.extend(guard(false));
            if wan_device.is_none() {
                p.append(&mut commit);
            }
            // The backup route (a default route via the VIP, our own address now) goes,
            // and the resolver is handed back before dnsmasq starts (a rename, no
            // fork). Without a WAN the route goes first: it would be the only default
            // route. With one it goes beside the WAN coming up: its metric 4096 loses
            // to the WAN's default route the moment that exists, and its fork must not
            // delay the WAN.
            let (route, resolver): (Vec<Action>, Vec<Action>) =
                backup_internet(inp, false).into_iter().partition(|a| matches!(a, Action::BackupRoute { .. }));
            let mut beside = if wan_device.is_some() { route } else { p.extend(route); Vec::new() };
            p.extend(resolver);
            // The WAN next: netifd's `up` returns at once; our proto handler gives netifd
            // the cached lease (failover::lease) and DHCP confirms in the background.
            if let Some(w) = &inp.wan {
                p.extend(guard(true));
                p.push(Action::IfUp(w.clone()));
            }
            // Then everything independent at once: the commit (with a WAN), watching the
            // WAN come up, the services, and conntrackd's own cache housekeeping after the
            // commit: refill the internal cache from the kernel, send it all to the peer,
            // drop the committed external cache. Not a plain `-f`: after a `-c`,
            // conntrackd 1.4.7 refuses `-f` and `-f external` ("commit still in
            // progress", exit code still 0; seen here even long after an empty commit).
            // `-f internal` is never refused, so our own cache is always rebuilt; the
            // external flush is best effort and comes last.
            // With a WAN the services start once netifd says it is up (or gave up): the
            // WAN is what every flow waits for, and on two cores the init scripts' forks
            // beside it delayed it by tens of ms (lab, bench.sh); dnsmasq's upstream DNS
            // and miniupnpd's external address need it anyway.
            // The VPN tunnels (`list vpn`) with them: a tunnel's endpoint is reached over
            // the WAN, and the far side sees the same public address as before.
            let starts: Vec<Action> = inp
                .services
                .iter()
                .map(|s| Action::ServiceStart(s.clone()))
                .chain(inp.vpns.iter().map(|v| Action::IfUp(v.clone())))
                .collect();
            let mut g: Vec<Action> = Vec::new();
            match &inp.wan {
                Some(w) => {
                    let mut first = vec![Action::WaitWan(w.clone())];
                    first.extend(together(starts));
                    g.push(Action::Sequence(first));
                }
                None => g = starts,
            }
            g.append(&mut beside);
            commit.extend([
                Action::Conntrackd(ConntrackdOp::FlushInternal),
                Action::Conntrackd(ConntrackdOp::Resync),
                Action::Conntrackd(ConntrackdOp::BulkSend),
                Action::Conntrackd(ConntrackdOp::FlushExternal),
            ]);
            g.push(Action::Sequence(commit));
            p.extend(together(g));
            p.extend(together(
                inp.services.iter().map(|s| Action::ExpectService { name: s.clone(), running: true }).collect(),
            ));
        }
        GroupState::Backup | GroupState::Fault | GroupState::Stop => {
            // Pitfall 1: taking the WAN down makes masquerade delete the conntrack entries
            // of that interface, and conntrackd would replicate those deletions to the new
            // master. conntrackd only sends a deletion for a flow it holds in its internal
            // cache, so emptying that cache *first* stops the propagation while keeping
            // the daemon, its external cache and the sync link alive.
            p.push(Action::Conntrackd(ConntrackdOp::FlushInternal));
            let mut g = Vec::new();
            if let Some(w) = &inp.wan {
                g.push(Action::IfDown(w.clone()));
            }
            // A guard left on by a takeover cut short (the hook killed mid-plan) ends here.
            g.extend(inp.wan_device.as_ref().map(|d| Action::WanGuard { device: d.clone(), on: false }));
            g.extend(inp.services.iter().map(|s| Action::ServiceStop(s.clone())));
            // Both routers must never answer the tunnel's far side: ours goes down.
            g.extend(inp.vpns.iter().map(|v| Action::IfDown(v.clone())));
            p.extend(together(g));
            // Flows we no longer route go after PurgeTimeout instead of lingering; conntrackd
            // empties its internal cache when that flush fires, so it replicates nothing.
            p.push(Action::Conntrackd(ConntrackdOp::ResetTimers));
            if t.to == GroupState::Backup {
                // A fresh backup wants the master's full table in its external cache.
                // Not on FAULT/STOP: the sync link may be what failed.
                p.push(Action::Conntrackd(ConntrackdOp::RequestResync));
            }
            // Our own traffic through the master, once our WAN is down and dnsmasq
            // stopped (its stop relinks the resolver file we then replace). Not on FAULT:
            // a faulted router may have lost the LAN the VIP lives on (the kernel refuses
            // a route via an unreachable gateway, a failure in every FAULT's history), and
            // a VIP nobody holds would swallow the traffic. FAULT and STOP undo it.
            p.extend(backup_internet(inp, t.to == GroupState::Backup));
            p.extend(together(
                inp.services.iter().map(|s| Action::ExpectService { name: s.clone(), running: false }).collect(),
            ));
        }
    }
    p.push(Action::Announce);
    p
}

/// The backup's own Internet: on BACKUP the WAN is down, so the router's own NTP, DNS,
/// `opkg update` and peer-link time checks have no way out; the master, holding the LAN
/// VIP, has one. `install` adds a default route via the VIP (metric
/// [`BACKUP_ROUTE_METRIC`], so it never beats a real WAN default route) and, when the
/// plan stops dnsmasq, points the resolver at the VIP; otherwise both are undone.
///
/// Why `/tmp/resolv.conf` and nothing else: libc reads it (`/etc/resolv.conf` links to
/// it), and its owner is dnsmasq's init script, which writes `nameserver 127.0.0.1` at
/// start and links it back to `resolv.conf.d/resolv.conf.auto` at stop. With dnsmasq
/// stopped, 127.0.0.1 answers nothing and `resolv.conf.auto` lists only the DNS servers
/// of interfaces that are up, none with the WAN down. We replace the file (a rename,
/// never a write through the link into netifd's file, which netifd rewrites on every
/// interface event, the WAN going down included) only after dnsmasq stopped, and hand it
/// back, relinked exactly as dnsmasq's stop leaves it, before dnsmasq starts again (and
/// only if it is still ours). When dnsmasq is not a service of ours it runs on the
/// backup too and owns the file, so the resolver is left alone: point its upstream at
/// the VIP (`list server`) instead.
fn backup_internet(inp: &PlanInputs, install: bool) -> Vec<Action> {
    let Some(via) = inp.backup_via else { return Vec::new() };
    let mut v = vec![Action::BackupRoute { via, install }];
    if inp.services.iter().any(|s| s == "dnsmasq") {
        v.push(Action::BackupResolver { via, install });
    }
    v
}

/// The plan as numbered lines. Actions that share a number run in parallel
/// (`3a`, `3b`); a sequence inside a parallel group is numbered `3c1`, `3c2`…
pub fn render_lines(plan: &[Action], paths: &Paths) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in plan.iter().enumerate() {
        label(a, &format!("{}", i + 1), paths, &mut out);
    }
    out
}

fn label(a: &Action, prefix: &str, paths: &Paths, out: &mut Vec<String>) {
    match a {
        Action::Parallel(v) => {
            for (j, c) in v.iter().enumerate() {
                let letter = char::from(b'a' + (j % 26) as u8);
                label(c, &format!("{}{}", prefix, letter), paths, out);
            }
        }
        Action::Sequence(v) => {
            for (j, c) in v.iter().enumerate() {
                label(c, &format!("{}{}", prefix, j + 1), paths, out);
            }
        }
        leaf => out.push(format!("{:<5} {}", prefix, leaf.describe(paths))),
    }
}

/// Every leaf action in plan order (parallel groups flattened in their listed order).
pub fn leaves(plan: &[Action]) -> Vec<&Action> {
    fn walk<'a>(a: &'a Action, out: &mut Vec<&'a Action>) {
        match a {
            Action::Parallel(v) | Action::Sequence(v) => v.iter().for_each(|c| walk(c, out)),
            leaf => out.push(leaf),
        }
    }
    let mut out = Vec::new();
    plan.iter().for_each(|a| walk(a, &mut out));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn iface(l: &str, d: &str) -> Interface {
        Interface { logical: l.into(), device: d.into(), addresses: vec![] }
    }

    fn config(wan: bool, services: &[&str], mode: SyncMode) -> Config {
        Config {
            enabled: true,
            role: Role::Master,
            priority: 150,
            maintenance: false,
            auth_type: AuthType::Ah,
            password: Secret::new("s3cret"),
            vrrp_version: VrrpVersion::V3,
            advert_ms: 100,
            preempt: true,
            preempt_delay_s: 0,
            sync: SyncLink {
                interface: iface("sync", "eth2"),
                mode,
                port: 3780,
                multicast_group: Ipv4Addr::new(225, 0, 0, 50),
                local_address: Some(Ipv4Addr::new(198, 18, 0, 1)),
                peer_ip: if mode == SyncMode::Unicast { Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2))) } else { None },
            },
            services: services.iter().map(|s| s.to_string()).collect(),
            vpns: vec![],
            vpn_ports: vec![],
            vips: vec![Vip {
                name: "lan".into(),
                interface: iface("lan", "br-lan"),
                address: IpNet { addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), prefix: 24 },
                vrid: 10,
                peer_address: None,
                gateway: None,
            }],
            wan: if wan {
                Some(Wan { logical: "wan".into(), parent: "eth0".into(), device: "wan".into(), macaddr: [2, 0, 0, 0, 0, 1] })
            } else {
                None
            },
            router_id: "ra".into(),
            backup_route: true,
            health: vec![],
        }
    }

    fn lines(to: GroupState, c: &Config) -> Vec<String> {
        let paths = Paths::new("/r");
        leaves(&plan(&Transition::to(to), c)).iter().map(|a| a.describe(&paths)).collect()
    }

    fn pos(lines: &[String], needle: &str) -> usize {
        lines.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle:?} not in {lines:#?}"))
    }

    #[test]
    fn master_guards_the_wan_commits_beside_it_then_flushes_resyncs_and_bulk_sends() {
        let l = lines(GroupState::Master, &config(true, &["dnsmasq", "odhcpd"], SyncMode::Multicast));
        assert!(l[0].starts_with("ensure conntrackd"));
        let on = pos(&l, "/sys/class/net/wan/netdev_group to 28008");
        let off = pos(&l, "/sys/class/net/wan/netdev_group to 0");
        // guard on, WAN up, then the commit (in the parallel group), guard off after it
        assert!(on < pos(&l, "network.interface.wan up") && pos(&l, "network.interface.wan up") < pos(&l, " -c"), "{l:#?}");
        assert_eq!(off, pos(&l, " -c") + 1, "{l:#?}");
        assert!(off < pos(&l, " -f internal"), "{l:#?}");
        assert!(pos(&l, " -f internal") < pos(&l, " -R") && pos(&l, " -R") < pos(&l, " -B"));
        assert!(pos(&l, " -B") < pos(&l, " -f external"));
        assert!(pos(&l, "dnsmasq start") < pos(&l, "dnsmasq running"));
        assert!(pos(&l, "odhcpd start") < pos(&l, "odhcpd running"));
        assert!(l.last().is_some_and(|x| x.starts_with("ubus send muros_ha.transition")));
        assert!(!l.iter().any(|x| x.contains("stop") || x.contains("down")));
        // Without a WAN the commit has nothing to run beside: first and alone, no guard.
        let mut c = config(false, &["dnsmasq"], SyncMode::Multicast);
        c.wan = None;
        let l = lines(GroupState::Master, &c);
        assert_eq!(l[1], "conntrackd -C /r/etc/conntrackd/conntrackd.conf -c", "{l:#?}");
        assert!(!l.iter().any(|x| x.contains("netdev_group")), "{l:#?}");
    }

    /// Issue 18: a `list vpn` tunnel comes up with the services, after netifd says the
    /// WAN is up (its endpoint is reached over it), and goes down with the WAN on every
    /// other state, so the two routers never both answer the far side.
    #[test]
    fn vpn_interfaces_follow_the_master() {
        let mut c = config(true, &["dnsmasq"], SyncMode::Multicast);
        c.vpns = vec!["wg0".into(), "wg1".into()];
        let p = plan(&Transition::to(GroupState::Master), &c);
        let Action::Parallel(g) = &p[4] else { panic!("{p:#?}") };
        let Action::Sequence(first) = &g[0] else { panic!("{g:#?}") };
        assert_eq!(first[0], Action::WaitWan("wan".into()));
        assert_eq!(
            first[1],
            Action::Parallel(vec![Action::ServiceStart("dnsmasq".into()), Action::IfUp("wg0".into()), Action::IfUp("wg1".into())])
        );
        for to in [GroupState::Backup, GroupState::Fault, GroupState::Stop] {
            let l = lines(to, &c);
            assert!(pos(&l, "network.interface.wg0 down") < pos(&l, " -t"), "{to:?}: {l:#?}");
            assert!(l.iter().any(|x| x == "ubus call network.interface.wg1 down"), "{l:#?}");
            assert!(!l.iter().any(|x| x.contains(" up")), "{l:#?}");
        }
        // No WAN: beside the services at once.
        c.wan = None;
        let l = lines(GroupState::Master, &c);
        assert!(pos(&l, "network.interface.wg0 up") < pos(&l, "dnsmasq running"), "{l:#?}");
        // The cache: `vpns` only when there are any, so older caches read the same.
        let mut inp = PlanInputs::from(&c);
        assert!(String::from_utf8(inp.to_json_bytes().unwrap()).unwrap().ends_with(r#""vpns":["wg0","wg1"]}"#));
        inp.vpns.clear();
        assert!(!String::from_utf8(inp.to_json_bytes().unwrap()).unwrap().contains("vpns"));
    }

    #[test]
    fn master_raises_the_wan_alone_then_commit_wan_watch_and_services_in_parallel() {
        let p = plan(&Transition::to(GroupState::Master), &config(true, &["dnsmasq", "odhcpd"], SyncMode::Multicast));
        assert_eq!(p[2], Action::WanGuard { device: "wan".into(), on: true });
        assert_eq!(p[3], Action::IfUp("wan".into()));
        let Action::Parallel(g) = &p[4] else { panic!("step 5 is not parallel: {p:#?}") };
        assert_eq!(g.len(), 3);
        // the services start once netifd says the WAN is up
        let Action::Sequence(first) = &g[0] else { panic!("{g:#?}") };
        assert_eq!(first[0], Action::WaitWan("wan".into()));
        assert!(matches!(&first[1], Action::Parallel(s) if s[0] == Action::ServiceStart("dnsmasq".into()) && s.len() == 2), "{first:#?}");
        assert!(matches!(g[1], Action::BackupRoute { install: false, .. }));
        assert!(matches!(&g[2], Action::Sequence(s) if s.len() == 6 && s[0] == Action::Conntrackd(ConntrackdOp::Commit)));
        let Action::Parallel(checks) = &p[5] else { panic!("checks are not parallel: {p:#?}") };
        assert_eq!(checks.len(), 2);
    }

    #[test]
    fn backup_stops_conntrack_sync_before_the_wan_goes_down() {
        let l = lines(GroupState::Backup, &config(true, &["dnsmasq"], SyncMode::Multicast));
        let flush = pos(&l, "-f internal");
        assert!(flush < pos(&l, "network.interface.wan down"));
        assert!(flush < pos(&l, "dnsmasq stop"));
        assert!(pos(&l, "network.interface.wan down") < pos(&l, " -t"));
        assert!(pos(&l, " -t") < pos(&l, " -n"));
        assert!(pos(&l, "dnsmasq stop") < pos(&l, "dnsmasq running"));
        assert!(l[pos(&l, "dnsmasq running")].ends_with("to say stopped"));
        assert!(!l.iter().any(|x| x.ends_with(" -c") || x.contains(" up")));
    }

    #[test]
    fn fault_and_stop_reset_timers_but_request_no_resync() {
        for st in [GroupState::Fault, GroupState::Stop] {
            let l = lines(st, &config(true, &["dnsmasq"], SyncMode::Multicast));
            assert!(pos(&l, "-f internal") < pos(&l, "network.interface.wan down"));
            assert!(l.iter().any(|x| x.ends_with(" -t")));
            assert!(!l.iter().any(|x| x.ends_with(" -n")), "{st}: {l:#?}");
        }
    }

    #[test]
    fn no_wan_and_no_services_leaves_conntrackd_the_backup_route_and_the_event() {
        let c = config(false, &[], SyncMode::Multicast);
        let via = Ipv4Addr::new(192, 0, 2, 1);
        let m = plan(&Transition::to(GroupState::Master), &c);
        assert_eq!(
            m,
            vec![
                Action::EnsureConntrackd,
                Action::Conntrackd(ConntrackdOp::Commit),
                Action::BackupRoute { via, install: false },
                Action::Sequence(vec![
                    Action::Conntrackd(ConntrackdOp::FlushInternal),
                    Action::Conntrackd(ConntrackdOp::Resync),
                    Action::Conntrackd(ConntrackdOp::BulkSend),
                    Action::Conntrackd(ConntrackdOp::FlushExternal),
                ]),
                Action::Announce,
            ]
        );
        let b = plan(&Transition::to(GroupState::Backup), &c);
        assert_eq!(
            b,
            vec![
                Action::EnsureConntrackd,
                Action::Conntrackd(ConntrackdOp::FlushInternal),
                Action::Conntrackd(ConntrackdOp::ResetTimers),
                Action::Conntrackd(ConntrackdOp::RequestResync),
                Action::BackupRoute { via, install: true },
                Action::Announce,
            ]
        );
    }

    #[test]
    fn unicast_sync_plans_the_same_conntrackd_sequence_as_multicast() {
        for st in [GroupState::Master, GroupState::Backup, GroupState::Fault] {
            assert_eq!(
                plan(&Transition::to(st), &config(true, &["dnsmasq"], SyncMode::Unicast)),
                plan(&Transition::to(st), &config(true, &["dnsmasq"], SyncMode::Multicast))
            );
        }
    }

    #[test]
    fn disabled_config_only_announces() {
        let mut c = config(true, &["dnsmasq"], SyncMode::Multicast);
        c.enabled = false;
        assert_eq!(plan(&Transition::to(GroupState::Master), &c), vec![Action::Announce]);
    }

    #[test]
    fn plan_depends_only_on_the_target_state() {
        let c = config(true, &["dnsmasq"], SyncMode::Multicast);
        let a = plan(&Transition { from: Some(GroupState::Backup), to: GroupState::Master }, &c);
        let b = plan(&Transition { from: None, to: GroupState::Master }, &c);
        assert_eq!(a, b);
    }

    #[test]
    fn rendered_lines_number_parallel_members_with_letters() {
        let paths = Paths::new("/");
        let p = plan(&Transition::to(GroupState::Master), &config(true, &["dnsmasq"], SyncMode::Multicast));
        let l = render_lines(&p, &paths);
        assert!(l[0].starts_with("1 "));
        assert_eq!(l[1], "2     link /tmp/resolv.conf -> resolv.conf.d/resolv.conf.auto if it is still ours", "{l:#?}");
        assert!(l[2].starts_with("3     set /sys/class/net/wan/netdev_group to 28008"), "{l:#?}");
        assert!(l[3].starts_with("4     ubus call network.interface.wan up"), "{l:#?}");
        assert_eq!(l[4], "5a1   wait for network.interface.wan status to say up", "{l:#?}");
        assert!(l[5].starts_with("5a2   /etc/init.d/dnsmasq start"), "{l:#?}");
        assert_eq!(l[6], "5b    ip -4 route del default via 192.0.2.1 metric 4096 protocol static", "{l:#?}");
        assert!(l[7].starts_with("5c1   conntrackd -C /etc/conntrackd/conntrackd.conf -c"), "{l:#?}");
        assert!(l[8].starts_with("5c2   set /sys/class/net/wan/netdev_group to 0"), "{l:#?}");
        assert!(l.last().is_some_and(|x| x.contains("muros_ha.transition")));
    }

    #[test]
    fn plan_inputs_round_trip_through_json() {
        let i = PlanInputs::from(&config(true, &["dnsmasq"], SyncMode::Multicast));
        let j = i.to_json_bytes().unwrap();
        assert_eq!(PlanInputs::parse(&j).unwrap(), i);
        assert_eq!(i.vips[0].address, "192.0.2.1/24");
    }

    /// The cache file as the previous release wrote it (`wan` null when absent).
    #[test]
    fn plan_inputs_keep_the_previous_format() {
        let mut i = PlanInputs::from(&config(true, &["dnsmasq"], SyncMode::Multicast));
        let text = r#"{"enabled":true,"wan":"wan","wan_device":"wan","services":["dnsmasq"],"vips":[{"device":"br-lan","address":"192.0.2.1/24"}],"backup_via":"192.0.2.1"}"#;
        assert_eq!(i.to_json_bytes().unwrap(), text.as_bytes());
        i.wan = None;
        i.wan_device = None;
        i.services.clear();
        i.backup_via = None;
        let text = r#"{"enabled":true,"wan":null,"wan_device":null,"services":[],"vips":[{"device":"br-lan","address":"192.0.2.1/24"}],"backup_via":null}"#;
        assert_eq!(i.to_json_bytes().unwrap(), text.as_bytes());
        assert_eq!(PlanInputs::parse(text.as_bytes()).unwrap(), i);
        let old = r#"{"enabled":true,"services":[],"vips":[{"device":"br-lan","address":"192.0.2.1/24"}]}"#;
        assert_eq!(PlanInputs::parse(old.as_bytes()).unwrap(), i);
        assert!(PlanInputs::parse(br#"{"enabled":true,"wan":null,"services":[1],"vips":[]}"#).is_err());
    }

    fn via() -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, 1)
    }

    #[test]
    fn master_drops_the_backup_route_and_returns_the_resolver_before_the_wan_comes_up() {
        let l = lines(GroupState::Master, &config(true, &["dnsmasq"], SyncMode::Multicast));
        let del = pos(&l, "ip -4 route del default via 192.0.2.1 metric 4096 protocol static");
        let relink = pos(&l, "link /r/tmp/resolv.conf -> resolv.conf.d/resolv.conf.auto");
        // the resolver before the WAN and dnsmasq; the route beside the WAN coming up
        assert!(relink < pos(&l, "netdev_group") && relink < pos(&l, "network.interface.wan up"), "{l:#?}");
        assert!(pos(&l, "network.interface.wan up") < del, "{l:#?}");
        let mut c = config(true, &["dnsmasq"], SyncMode::Multicast);
        c.wan = None;
        let l = lines(GroupState::Master, &c);
        assert!(pos(&l, " -c") < pos(&l, "route del") && pos(&l, "route del") < pos(&l, "dnsmasq start"), "no WAN: commit, route, then the rest: {l:#?}");
        assert!(relink < pos(&l, "dnsmasq start"), "{l:#?}");
        assert!(!l.iter().any(|x| x.contains("route replace") || x.starts_with("write ")), "{l:#?}");
    }

    #[test]
    fn backup_routes_and_resolves_through_the_lan_vip_once_the_wan_is_down_and_dnsmasq_stopped() {
        let l = lines(GroupState::Backup, &config(true, &["dnsmasq"], SyncMode::Multicast));
        let add = pos(&l, "ip -4 route replace default via 192.0.2.1 metric 4096 protocol static");
        let write = pos(&l, "write /r/tmp/resolv.conf: nameserver 192.0.2.1");
        assert!(pos(&l, "network.interface.wan down") < add, "{l:#?}");
        assert!(pos(&l, "dnsmasq stop") < write, "{l:#?}");
        assert!(pos(&l, " -n") < add && add < write, "conntrackd's steps first: {l:#?}");
        assert!(write < pos(&l, "dnsmasq running"), "{l:#?}");
        assert!(!l.iter().any(|x| x.contains("route del") || x.starts_with("link ")), "{l:#?}");
    }

    #[test]
    fn fault_and_stop_remove_the_backup_route_and_return_the_resolver() {
        for st in [GroupState::Fault, GroupState::Stop] {
            let p = plan(&Transition::to(st), &config(true, &["dnsmasq"], SyncMode::Multicast));
            let ours: Vec<&Action> =
                leaves(&p).into_iter().filter(|a| matches!(a, Action::BackupRoute { .. } | Action::BackupResolver { .. })).collect();
            assert_eq!(
                ours,
                [&Action::BackupRoute { via: via(), install: false }, &Action::BackupResolver { via: via(), install: false }],
                "{st}"
            );
            let l = lines(st, &config(true, &["dnsmasq"], SyncMode::Multicast));
            assert!(pos(&l, "network.interface.wan down") < pos(&l, "route del"), "{st}: {l:#?}");
            assert!(pos(&l, "dnsmasq stop") < pos(&l, "link /r/tmp/resolv.conf"), "{st}: {l:#?}");
        }
    }

    #[test]
    fn without_dnsmasq_among_our_services_the_resolver_is_left_to_whoever_owns_it() {
        for st in [GroupState::Master, GroupState::Backup, GroupState::Fault, GroupState::Stop] {
            let l = lines(st, &config(true, &["odhcpd"], SyncMode::Multicast));
            assert!(l.iter().any(|x| x.starts_with("ip -4 route ")), "{st}: {l:#?}");
            assert!(!l.iter().any(|x| x.contains("resolv.conf")), "{st}: {l:#?}");
        }
    }

    #[test]
    fn backup_route_off_or_no_ipv4_vip_plans_neither_route_nor_resolver() {
        let mut off = config(true, &["dnsmasq"], SyncMode::Multicast);
        off.backup_route = false;
        let mut v6 = config(true, &["dnsmasq"], SyncMode::Multicast);
        v6.vips[0].address = IpNet { addr: "2001:db8::1".parse().unwrap(), prefix: 64 };
        for c in [off, v6] {
            assert_eq!(PlanInputs::from(&c).backup_via, None);
            for st in [GroupState::Master, GroupState::Backup, GroupState::Fault, GroupState::Stop] {
                let l = lines(st, &c);
                assert!(!l.iter().any(|x| x.contains("ip -4 route") || x.contains("resolv.conf")), "{st}: {l:#?}");
            }
        }
    }

    #[test]
    fn the_vip_on_the_lan_interface_wins_over_an_earlier_one() {
        let mut c = config(true, &[], SyncMode::Multicast);
        let guest = Vip {
            name: "guest".into(),
            interface: iface("guest", "br-guest"),
            address: IpNet { addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), prefix: 24 },
            vrid: 11,
            peer_address: None,
            gateway: None,
        };
        c.vips.insert(0, guest.clone());
        assert_eq!(PlanInputs::from(&c).backup_via, Some(via()));
        // Without an interface called lan: the first IPv4 VIP in file order.
        c.vips[1].interface = iface("office", "br-office");
        assert_eq!(PlanInputs::from(&c).backup_via, Some(Ipv4Addr::new(198, 51, 100, 1)));
    }

    #[test]
    fn plan_command_text_for_backup_shows_the_route_and_the_resolver() {
        let paths = Paths::new("/");
        let p = plan(&Transition::to(GroupState::Backup), &config(true, &["dnsmasq"], SyncMode::Multicast));
        let l = render_lines(&p, &paths);
        assert_eq!(l[3], "3b    set /sys/class/net/wan/netdev_group to 0 (guard off)", "{l:#?}");
        let tail: Vec<&str> = l[5..].iter().map(String::as_str).collect();
        assert_eq!(
            tail,
            [
                "4     conntrackd -C /etc/conntrackd/conntrackd.conf -t",
                "5     conntrackd -C /etc/conntrackd/conntrackd.conf -n",
                "6     ip -4 route replace default via 192.0.2.1 metric 4096 protocol static",
                "7     write /tmp/resolv.conf: nameserver 192.0.2.1",
                "8     expect /etc/init.d/dnsmasq running to say stopped",
                "9     ubus send muros_ha.transition {from,to,reason,time,ms}",
            ],
            "{l:#?}"
        );
    }

    #[test]
    fn the_resolver_file_starts_with_our_mark() {
        assert_eq!(resolver_text(via()), format!("{RESOLVER_MARK}\nnameserver 192.0.2.1\n"));
    }
}
