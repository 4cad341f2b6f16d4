//! Transition + config → the ordered list of actions. Pure: no I/O, same input, same plan.
//!
//! Order matters more than anything else here; the reasons sit beside each step.

use super::{GroupState, Transition};
use crate::model::Config;
use crate::paths::Paths;
use serde::{Deserialize, Serialize};

/// What the plan needs from the configuration. Kept apart from [`Config`] so the hook can
/// cache the last good copy (`state_dir/plan-inputs.json`) and still fail over when the
/// UCI config is broken mid-edit: keepalived does not wait for the operator.
/// JSON: `{"enabled","wan","services":[…],"vips":[{"device","address"}]}`, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanInputs {
    pub enabled: bool,
    /// Logical WAN interface driven through netifd (`network.interface.<wan>`); `null`
    /// when there is none, and missing reads as `None`, as it always did.
    #[serde(default)]
    pub wan: Option<String>,
    /// Services started on MASTER and stopped otherwise, in configured order.
    pub services: Vec<String>,
    /// Where keepalived puts the VIPs; `converge` looks for them.
    pub vips: Vec<VipRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipRef {
    pub device: String,
    /// `192.0.2.1/24`
    pub address: String,
}

impl Default for PlanInputs {
    /// Nothing known: conntrackd only (its paths come from the root, not the config).
    fn default() -> Self {
        PlanInputs { enabled: true, wan: None, services: Vec::new(), vips: Vec::new() }
    }
}

impl PlanInputs {
    /// The cache file's text: fields in declaration order.
    pub fn to_json_bytes(&self) -> std::io::Result<Vec<u8>> {
        crate::to_json_bytes(self)
    }

    /// The cache file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

impl From<&Config> for PlanInputs {
    fn from(c: &Config) -> Self {
        PlanInputs {
            enabled: c.enabled,
            wan: c.wan.as_ref().map(|w| w.logical.clone()),
            services: c.services.clone(),
            vips: c
                .vips
                .iter()
                .map(|v| VipRef { device: v.interface.device.clone(), address: v.address.to_string() })
                .collect(),
        }
    }
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
    /// `ubus call network.interface.<wan> up`
    WanUp(String),
    /// `ubus call network.interface.<wan> down`
    WanDown(String),
    ServiceStart(String),
    ServiceStop(String),
    /// `<init.d>/<svc> running` must say `running` (exit 0 = running).
    ExpectService { name: String, running: bool },
    Parallel(Vec<Action>),
    Sequence(Vec<Action>),
    /// ubus event `muros_ha.transition`, sent after `current` and history are written.
    Announce,
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
            Action::WanUp(l) => format!("ubus call network.interface.{} up", l),
            Action::WanDown(l) => format!("ubus call network.interface.{} down", l),
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
            // The peer's flows must be in our kernel table before traffic reaches us,
            // so the commit comes first and alone.
            p.push(Action::Conntrackd(ConntrackdOp::Commit));
            // The WAN next, alone: DHCP behind it is the longest part of the takeover
            // (pitfall 9), netifd's `up` returns at once, and a fork storm running beside
            // it measurably delays it (bench: event→WAN up).
            if let Some(w) = &inp.wan {
                p.push(Action::WanUp(w.clone()));
            }
            // Then everything independent at once: the services, and conntrackd's own
            // cache housekeeping: refill the internal cache from the kernel, send it all to
            // the peer, drop the committed external cache. Not a plain `-f`: after a
            // `-c`, conntrackd 1.4.7 refuses `-f` and `-f external` ("commit still in
            // progress", exit code still 0; seen here even long after an empty commit).
            // `-f internal` is never refused, so our own cache is always rebuilt; the
            // external flush is best effort and comes last.
            let mut g: Vec<Action> = inp.services.iter().map(|s| Action::ServiceStart(s.clone())).collect();
            g.push(Action::Sequence(vec![
                Action::Conntrackd(ConntrackdOp::FlushInternal),
                Action::Conntrackd(ConntrackdOp::Resync),
                Action::Conntrackd(ConntrackdOp::BulkSend),
                Action::Conntrackd(ConntrackdOp::FlushExternal),
            ]));
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
                g.push(Action::WanDown(w.clone()));
            }
            g.extend(inp.services.iter().map(|s| Action::ServiceStop(s.clone())));
            p.extend(together(g));
            // Flows we no longer route go after PurgeTimeout instead of lingering; conntrackd
            // empties its internal cache when that flush fires, so it replicates nothing.
            p.push(Action::Conntrackd(ConntrackdOp::ResetTimers));
            if t.to == GroupState::Backup {
                // A fresh backup wants the master's full table in its external cache.
                // Not on FAULT/STOP: the sync link may be what failed.
                p.push(Action::Conntrackd(ConntrackdOp::RequestResync));
            }
            p.extend(together(
                inp.services.iter().map(|s| Action::ExpectService { name: s.clone(), running: false }).collect(),
            ));
        }
    }
    p.push(Action::Announce);
    p
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
            sync: SyncLink {
                interface: iface("sync", "eth2"),
                mode,
                port: 3780,
                multicast_group: Ipv4Addr::new(225, 0, 0, 50),
                local_address: Some(Ipv4Addr::new(198, 18, 0, 1)),
                peer_ip: if mode == SyncMode::Unicast { Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2))) } else { None },
            },
            services: services.iter().map(|s| s.to_string()).collect(),
            vips: vec![Vip {
                name: "lan".into(),
                interface: iface("lan", "br-lan"),
                address: IpNet { addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), prefix: 24 },
                vrid: 10,
                peer_address: None,
            }],
            wan: if wan {
                Some(Wan { logical: "wan".into(), parent: "eth0".into(), device: "wan".into(), macaddr: [2, 0, 0, 0, 0, 1] })
            } else {
                None
            },
            router_id: "ra".into(),
            backup_route: true,
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
    fn master_commits_before_the_wan_comes_up_then_flushes_resyncs_and_bulk_sends() {
        let l = lines(GroupState::Master, &config(true, &["dnsmasq", "odhcpd"], SyncMode::Multicast));
        assert!(l[0].starts_with("ensure conntrackd"));
        assert_eq!(l[1], "conntrackd -C /r/etc/conntrackd/conntrackd.conf -c");
        assert!(pos(&l, " -c") < pos(&l, "network.interface.wan up"));
        assert!(pos(&l, " -f internal") < pos(&l, " -R") && pos(&l, " -R") < pos(&l, " -B"));
        assert!(pos(&l, " -B") < pos(&l, " -f external"));
        assert!(pos(&l, "dnsmasq start") < pos(&l, "dnsmasq running"));
        assert!(pos(&l, "odhcpd start") < pos(&l, "odhcpd running"));
        assert!(l.last().is_some_and(|x| x.starts_with("ubus send muros_ha.transition")));
        assert!(!l.iter().any(|x| x.contains("stop") || x.contains("down")));
    }

    #[test]
    fn master_raises_the_wan_alone_then_services_and_cache_housekeeping_in_parallel() {
        let p = plan(&Transition::to(GroupState::Master), &config(true, &["dnsmasq", "odhcpd"], SyncMode::Multicast));
        assert_eq!(p[2], Action::WanUp("wan".into()));
        let Action::Parallel(g) = &p[3] else { panic!("step 4 is not parallel: {p:#?}") };
        assert_eq!(g.len(), 3);
        assert_eq!(g[0], Action::ServiceStart("dnsmasq".into()));
        assert!(matches!(&g[2], Action::Sequence(s) if s.len() == 4));
        let Action::Parallel(checks) = &p[4] else { panic!("checks are not parallel: {p:#?}") };
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
    fn no_wan_and_no_services_leaves_only_conntrackd_and_the_event() {
        let c = config(false, &[], SyncMode::Multicast);
        let m = plan(&Transition::to(GroupState::Master), &c);
        assert_eq!(
            m,
            vec![
                Action::EnsureConntrackd,
                Action::Conntrackd(ConntrackdOp::Commit),
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
        assert!(l[1].starts_with("2     conntrackd -C /etc/conntrackd/conntrackd.conf -c"), "{l:#?}");
        assert!(l[2].starts_with("3     ubus call network.interface.wan up"), "{l:#?}");
        assert!(l[3].starts_with("4a    /etc/init.d/dnsmasq start"), "{l:#?}");
        assert!(l[4].starts_with("4b1   conntrackd"), "{l:#?}");
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
        let text = r#"{"enabled":true,"wan":"wan","services":["dnsmasq"],"vips":[{"device":"br-lan","address":"192.0.2.1/24"}]}"#;
        assert_eq!(i.to_json_bytes().unwrap(), text.as_bytes());
        i.wan = None;
        i.services.clear();
        let text = r#"{"enabled":true,"wan":null,"services":[],"vips":[{"device":"br-lan","address":"192.0.2.1/24"}]}"#;
        assert_eq!(i.to_json_bytes().unwrap(), text.as_bytes());
        assert_eq!(PlanInputs::parse(text.as_bytes()).unwrap(), i);
        let old = r#"{"enabled":true,"services":[],"vips":[{"device":"br-lan","address":"192.0.2.1/24"}]}"#;
        assert_eq!(PlanInputs::parse(old.as_bytes()).unwrap(), i);
        assert!(PlanInputs::parse(br#"{"enabled":true,"wan":null,"services":[1],"vips":[]}"#).is_err());
    }
}
