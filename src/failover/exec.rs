//! Runs a plan through a [`System`]: steps strictly in order, members of a parallel group
//! on their own threads. A failed action is recorded and the plan goes on: a failover
//! that stops half way (WAN up but no DHCP server, say) is worse than one with a
//! recorded failure.

use super::plan::{backup_route_argv, resolver_text, service_argv, Action, RESOLVER_MARK};
use super::system::{conntrackd_socket, System};
use crate::paths::Paths;
use serde::Serialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// conntrackd client commands; a commit of a large table takes a while.
pub const CONNTRACKD_TIMEOUT: Duration = Duration::from_secs(10);
/// procd init scripts return once procd has the instance; 30 s is already pathological.
pub const SERVICE_TIMEOUT: Duration = Duration::from_secs(30);
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
pub const UBUS_TIMEOUT: Duration = Duration::from_secs(5);
/// `ip route` answers at once; this only bounds a hung one.
pub const ROUTE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a new master watches its WAN come up (DHCP included), and how often.
pub const WAN_WAIT: Duration = Duration::from_secs(5);
const WAN_POLL: Duration = Duration::from_millis(2);
/// How long a freshly started conntrackd may take to open its control socket.
const CONNTRACKD_START_POLLS: u32 = 50;
const CONNTRACKD_START_POLL: Duration = Duration::from_millis(20);

/// The result of one leaf action, as stored in the history:
/// `{"action","ok","ms","detail"?}`, fields in this order (`detail` left out when
/// `None`, in the history and in ubus replies alike).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionResult {
    /// What ran (see [`Action::describe`]).
    pub action: String,
    pub ok: bool,
    pub ms: u64,
    /// Missing or `null` in a line read back: `None`, as the previous reader had it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// When it ended, in ms from the start of the plan (not stored: see [`steps`]).
    #[serde(skip)]
    pub at_ms: u64,
}

/// How long after the VRRP event (the hook's start) a new master reached each point,
/// in `history` and `status.last_failover`: `{"wan_ms","services_ms","conntrack_ms"}`
/// (keys sorted), `null` for a step it does not have or that did not succeed: netifd
/// said the WAN is up (cached lease or DHCP); the last service was confirmed running;
/// conntrackd's commit of the peer's flows returned. A JSON value rather than a
/// derived record: nothing reads it back but JSON consumers (saves the deserializer).
/// `offset_ms` is the hook's time before the plan.
pub fn steps(plan: &[Action], results: &[ActionResult], offset_ms: u64) -> Value {
    let (mut wan, mut services, mut conntrack) = (None, None, None);
    let leaves = super::plan::leaves(plan).into_iter().filter(|a| **a != Action::Announce);
    for (a, r) in leaves.zip(results).filter(|(_, r)| r.ok) {
        let at = Some(r.at_ms + offset_ms);
        match a {
            Action::WaitWan(_) => wan = at,
            Action::Conntrackd(super::plan::ConntrackdOp::Commit) => conntrack = at,
            Action::ExpectService { running: true, .. } => services = services.max(at),
            _ => {}
        }
    }
    json!({ "wan_ms": wan, "services_ms": services, "conntrack_ms": conntrack })
}

fn ms_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Run every action of `plan` except [`Action::Announce`] (the caller sends the event
/// once the outcome is recorded). Results come back in plan order.
pub fn execute(plan: &[Action], paths: &Paths, sys: &dyn System) -> Vec<ActionResult> {
    let mut out = Vec::new();
    let start = Instant::now();
    for a in plan {
        run_action(a, paths, sys, &mut out, start);
    }
    out
}

fn run_action(a: &Action, paths: &Paths, sys: &dyn System, out: &mut Vec<ActionResult>, start: Instant) {
    match a {
        Action::Sequence(v) => v.iter().for_each(|c| run_action(c, paths, sys, out, start)),
        Action::Parallel(v) => out.extend(parallel(v, paths, sys, start)),
        Action::Announce => {}
        leaf => {
            let t0 = Instant::now();
            let (ok, detail) = run_leaf(leaf, paths, sys);
            out.push(ActionResult {
                action: leaf.describe(paths),
                ok,
                ms: ms_since(t0),
                detail: if detail.is_empty() { None } else { Some(detail) },
                at_ms: ms_since(start),
            });
        }
    }
}

/// Each action on its own scoped thread, all joined before this returns; results in
/// plan order. An action whose thread cannot be created runs on this thread instead:
/// slower, never lost.
fn parallel(v: &[Action], paths: &Paths, sys: &dyn System, start: Instant) -> Vec<ActionResult> {
    let job = |c: &Action| {
        let mut r = Vec::new();
        run_action(c, paths, sys, &mut r, start);
        r
    };
    let job = &job;
    std::thread::scope(|s| {
        let started: Vec<_> = v.iter().map(|c| std::thread::Builder::new().spawn_scoped(s, move || job(c)).map_err(|_| c)).collect();
        let joined = started.into_iter().map(|h| match h {
            // A panicking action (tests only: release aborts) fails the caller, as before.
            Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            Err(c) => job(c),
        });
        joined.flatten().collect()
    })
}

fn run_leaf(a: &Action, paths: &Paths, sys: &dyn System) -> (bool, String) {
    match a {
        Action::EnsureConntrackd => ensure_conntrackd(paths, sys),
        Action::Conntrackd(op) => match sys.conntrackd(&conntrackd_socket(paths), *op, CONNTRACKD_TIMEOUT) {
            Ok(reply) => (true, reply),
            Err(e) => (false, e),
        },
        Action::IfUp(l) | Action::IfDown(l) => {
            let method = if matches!(a, Action::IfUp(_)) { "up" } else { "down" };
            match sys.ubus_call(&format!("network.interface.{}", l), method, &json!({}), UBUS_TIMEOUT) {
                Ok(_) => (true, String::new()),
                Err(e) => (false, e),
            }
        }
        Action::WaitWan(l) => wait_wan(paths, sys, l),
        Action::WanGuard { device, on } => {
            let group = if *on { crate::render::firewall::WAN_GUARD_GROUP } else { 0 };
            let path = std::path::PathBuf::from(format!("/sys/class/net/{}/netdev_group", device));
            match sys.write_in_place(&path, group.to_string().as_bytes()) {
                Ok(()) => (true, String::new()),
                // No device, no guard to lift (a WAN not created yet).
                Err(e) if !on && !sys.path_exists(&path) => (true, e),
                Err(e) => (false, e),
            }
        }
        Action::ServiceStart(s) | Action::ServiceStop(s) => {
            let verb = if matches!(a, Action::ServiceStart(_)) { "start" } else { "stop" };
            let o = sys.run(&service_argv(paths, s, verb), SERVICE_TIMEOUT);
            (o.success(), failure_detail(&o))
        }
        Action::ExpectService { name, running } => {
            // procd knows without a fork; on a router each `init.d/<svc> running` is a
            // whole rc.common shell. Only its "running" is trusted: a service procd does
            // not know may be a legacy script, which the init script then answers for.
            if procd_says_running(sys, name) {
                let ok = *running;
                return (ok, "running (procd)".to_string());
            }
            let o = sys.run(&service_argv(paths, name, "running"), CHECK_TIMEOUT);
            if o.timed_out || (o.code.is_none() && !o.detail.is_empty()) {
                return (false, o.detail);
            }
            let is_running = o.success();
            let said = if is_running { "running" } else { "not running" };
            (is_running == *running, said.to_string())
        }
        Action::BackupRoute { via, install } => {
            let o = sys.run(&backup_route_argv(*via, *install), ROUTE_TIMEOUT);
            // `del` of a route that is not there: iproute2 and busybox both say
            // "RTNETLINK answers: No such process" (ESRCH). Removing is idempotent.
            if !install && !o.success() && o.detail.contains("No such process") {
                return (true, "no such route".to_string());
            }
            (o.success(), failure_detail(&o))
        }
        Action::BackupResolver { via, install: true } => {
            match sys.write_file(&paths.resolv_conf(), resolver_text(*via).as_bytes()) {
                Ok(()) => (true, String::new()),
                Err(e) => (false, e),
            }
        }
        Action::BackupResolver { install: false, .. } => restore_resolver(paths, sys),
        Action::Parallel(_) | Action::Sequence(_) | Action::Announce => (true, String::new()),
    }
}

/// netifd's word on the WAN, asked every [`WAN_POLL`] for at most [`WAN_WAIT`]: up
/// (with its address) or not yet. A failed call ends the wait at once, and so does a
/// newer keepalived event that is not MASTER: the next transition must not queue
/// behind a slow DHCP server.
fn wait_wan(paths: &Paths, sys: &dyn System, wan: &str) -> (bool, String) {
    let object = format!("network.interface.{}", wan);
    let t0 = Instant::now();
    loop {
        let reply = match sys.ubus_call(&object, "status", &json!({}), UBUS_TIMEOUT) {
            Ok(r) => r,
            Err(e) => return (false, e),
        };
        // from_slice, as everywhere: a from_str would compile a second JSON reader (~4 KB)
        let st: Value = serde_json::from_slice(reply.lines().next().unwrap_or_default().as_bytes()).unwrap_or_default();
        if st.get("up") == Some(&Value::Bool(true)) {
            let a = &st["ipv4-address"][0];
            return (true, format!("up {}/{}", a["address"].as_str().unwrap_or("?"), a["mask"]));
        }
        if !st.is_object() || t0.elapsed() >= WAN_WAIT {
            return (false, format!("not up after {} ms", ms_since(t0)));
        }
        if super::state::read_desired(paths).is_some_and(|d| d.state != super::GroupState::Master) {
            return (false, "not up; a newer state is wanted".to_string());
        }
        std::thread::sleep(WAN_POLL);
    }
}

/// Hand `/tmp/resolv.conf` back as dnsmasq's stop leaves it (a link to netifd's file),
/// but only if it still holds what we wrote: a file dnsmasq or the operator wrote since
/// is theirs. A link to netifd's file reads as netifd's text, so it is left alone too.
fn restore_resolver(paths: &Paths, sys: &dyn System) -> (bool, String) {
    let resolv = paths.resolv_conf();
    let ours = sys.read_file(&resolv).is_some_and(|b| b.starts_with(RESOLVER_MARK.as_bytes()));
    if !ours {
        return (true, "not ours; left alone".to_string());
    }
    match sys.symlink(std::path::Path::new(crate::paths::RESOLV_CONF_AUTO), &resolv) {
        Ok(()) => (true, String::new()),
        Err(e) => (false, e),
    }
}

/// procd's `service list {"name": svc}` shows an instance of `svc` running.
fn procd_says_running(sys: &dyn System, service: &str) -> bool {
    match sys.ubus_call("service", "list", &json!({ "name": service }), CHECK_TIMEOUT) {
        Ok(reply) => procd_reply_running(&reply, service),
        Err(_) => false,
    }
}

/// `{"dnsmasq":{"instances":{"dnsmasq":{"running":true,…}}}}` → true.
pub fn procd_reply_running(reply: &str, service: &str) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(reply.as_bytes()) else { return false };
    v.get(service)
        .and_then(|s| s.get("instances"))
        .and_then(|i| i.as_object())
        .is_some_and(|inst| inst.values().any(|i| i.get("running") == Some(&Value::Bool(true))))
}

fn failure_detail(o: &super::system::CmdOutcome) -> String {
    if o.success() {
        String::new()
    } else if o.detail.is_empty() {
        format!("exit {}", o.code.map_or_else(|| "signal".to_string(), |c| c.to_string()))
    } else {
        format!("exit {}: {}", o.code.map_or_else(|| "signal".to_string(), |c| c.to_string()), o.detail)
    }
}

/// conntrackd must answer before any client command makes sense. A lock file left by a
/// SIGKILLed conntrackd stops it from ever starting again (pitfall 6), so when nobody
/// answers on the control socket and no conntrackd process for this config exists,
/// the lock is stale and goes.
fn ensure_conntrackd(paths: &Paths, sys: &dyn System) -> (bool, String) {
    let ctl = conntrackd_socket(paths);
    if sys.socket_alive(&ctl) {
        return (true, String::new());
    }
    let conf = paths.conntrackd_conf().display().to_string();
    // On a router there is one conntrackd; in a lab, only ours (same config) counts.
    let filter = if paths.is_system_root() { None } else { Some(conf.as_str()) };
    if sys.process_alive("conntrackd", filter) {
        return (false, format!("conntrackd runs but {} does not answer", ctl.display()));
    }
    let mut notes = Vec::new();
    let lock = paths.conntrackd_lock();
    if sys.path_exists(&lock) {
        match sys.remove_file(&lock) {
            Ok(()) => notes.push(format!("removed stale lock {}", lock.display())),
            Err(e) => return (false, e),
        }
    }
    let init = paths.init_script("conntrackd");
    let argv = if sys.path_exists(&init) {
        service_argv(paths, "conntrackd", "start")
    } else {
        vec!["conntrackd".into(), "-C".into(), conf, "-d".into()]
    };
    let o = sys.run(&argv, SERVICE_TIMEOUT);
    notes.push(format!("started: {}", argv.join(" ")));
    if !o.success() {
        notes.push(failure_detail(&o));
        return (false, notes.join("; "));
    }
    // Rare recovery path only: a daemonised conntrackd may open its socket a moment
    // after its parent returned.
    for _ in 0..CONNTRACKD_START_POLLS {
        if sys.socket_alive(&ctl) {
            return (true, notes.join("; "));
        }
        std::thread::sleep(CONNTRACKD_START_POLL);
    }
    notes.push(format!("{} still not answering", ctl.display()));
    (false, notes.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::plan::{plan_for, resolver_text, PlanInputs};
    use crate::failover::system::RecordingSystem;
    use crate::failover::{GroupState, Transition};
    use std::sync::atomic::Ordering;

    fn inputs() -> PlanInputs {
        PlanInputs {
            enabled: true,
            wan: Some("wan".into()),
            wan_device: Some("wan".into()),
            services: vec!["dnsmasq".into(), "odhcpd".into()],
            vips: vec![],
            backup_via: None,
            vpns: vec![],
        }
    }

    fn idx(log: &[String], needle: &str) -> usize {
        log.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle:?} not in {log:#?}"))
    }

    #[test]
    fn backup_flushes_the_internal_cache_before_the_wan_goes_down() {
        let sys = RecordingSystem::new();
        let paths = Paths::new("/r");
        let r = execute(&plan_for(&Transition::to(GroupState::Backup), &inputs()), &paths, &sys);
        let log = sys.log();
        assert!(idx(&log, "-f internal") < idx(&log, "network.interface.wan down {}"));
        assert!(idx(&log, "network.interface.wan down") < idx(&log, "conntrackd.ctl -t"));
        assert!(idx(&log, "-t") < idx(&log, "conntrackd.ctl -n"));
        assert!(idx(&log, "dnsmasq stop") < idx(&log, "dnsmasq running"));
        assert!(r.iter().all(|x| x.ok), "{r:#?}");
        assert!(!log.iter().any(|l| l.contains("muros_ha.transition")), "execute must not announce");
    }

    #[test]
    fn master_commits_then_raises_the_wan_and_verifies_services_run() {
        let sys = RecordingSystem::new();
        let paths = Paths::new("/r");
        let r = execute(&plan_for(&Transition::to(GroupState::Master), &inputs()), &paths, &sys);
        let log = sys.log();
        assert_eq!(log[0], "sysfs /sys/class/net/wan/netdev_group \"28008\"");
        assert_eq!(log[1], "ubus call network.interface.wan up {}");
        // the guard holds until the commit is done, and only until then
        assert_eq!(idx(&log, "conntrackd.ctl -c") + 1, idx(&log, "netdev_group \"0\""), "{log:#?}");
        assert!(idx(&log, "conntrackd.ctl -f internal") < idx(&log, "conntrackd.ctl -R"));
        assert!(idx(&log, "conntrackd.ctl -R") < idx(&log, "conntrackd.ctl -B"));
        assert!(idx(&log, "conntrackd.ctl -B") < idx(&log, "conntrackd.ctl -f external"));
        assert!(idx(&log, "odhcpd start") < idx(&log, "odhcpd running"));
        assert!(r.iter().all(|x| x.ok), "{r:#?}");
        // results come back in plan order whatever order the threads finished in
        let names: Vec<&str> = r.iter().map(|x| x.action.as_str()).collect();
        assert!(names[2].contains("wan up") && names[3].contains("status to say up") && names[4].contains("dnsmasq start"), "{names:#?}");
        assert_eq!(r[3].detail.as_deref(), Some("up 198.51.100.23/24"));
        assert!(idx(&log, "network.interface.wan up") < idx(&log, "dnsmasq start"));
        // every step's end is known, from the plan's start
        let st = steps(&plan_for(&Transition::to(GroupState::Master), &inputs()), &r, 7);
        assert_eq!(st["wan_ms"], r[3].at_ms + 7, "{st}");
        assert!(st["conntrack_ms"].is_u64() && st["services_ms"].is_u64(), "{st}");
        // a WAN netifd never reports up: no figure, and the step failed
        let sys = RecordingSystem::new();
        sys.set_ubus_reply("network.interface.wan", "");
        let r = execute(&plan_for(&Transition::to(GroupState::Master), &inputs()), &paths, &sys);
        let w = r.iter().find(|x| x.action.contains("status to say up")).unwrap();
        assert!(!w.ok, "{w:?}");
        assert_eq!(steps(&plan_for(&Transition::to(GroupState::Master), &inputs()), &r, 0)["wan_ms"], Value::Null);
    }

    #[test]
    fn a_service_that_will_not_start_is_recorded_as_failed_and_the_plan_goes_on() {
        let sys = RecordingSystem::new();
        sys.fail_when("dnsmasq start");
        let paths = Paths::new("/r");
        let r = execute(&plan_for(&Transition::to(GroupState::Master), &inputs()), &paths, &sys);
        let start = r.iter().find(|x| x.action.contains("dnsmasq start")).unwrap();
        assert!(!start.ok);
        let check = r.iter().find(|x| x.action.contains("dnsmasq running")).unwrap();
        assert!(!check.ok);
        assert_eq!(check.detail.as_deref(), Some("not running"));
        assert!(r.iter().find(|x| x.action.contains("odhcpd running")).unwrap().ok);
    }

    #[test]
    fn a_service_still_running_after_backup_is_a_recorded_failure() {
        let sys = RecordingSystem::new();
        sys.set_running("dnsmasq", true);
        sys.fail_when("dnsmasq stop");
        let r = execute(&plan_for(&Transition::to(GroupState::Backup), &inputs()), &Paths::new("/r"), &sys);
        let check = r.iter().find(|x| x.action.contains("dnsmasq running")).unwrap();
        assert!(!check.ok);
        assert_eq!(check.detail.as_deref(), Some("running"));
    }

    #[test]
    fn dead_conntrackd_with_stale_lock_gets_the_lock_cleared_and_is_started() {
        let sys = RecordingSystem::new();
        sys.conntrackd_up.store(false, Ordering::SeqCst);
        let paths = Paths::new("/r");
        sys.add_file(paths.conntrackd_lock());
        let r = execute(&[Action::EnsureConntrackd], &paths, &sys);
        assert!(r[0].ok, "{r:#?}");
        assert_eq!(
            sys.log(),
            vec![
                "remove /r/var/lock/conntrackd.lock".to_string(),
                "run conntrackd -C /r/etc/conntrackd/conntrackd.conf -d".to_string()
            ]
        );
    }

    #[test]
    fn conntrackd_is_started_through_its_init_script_when_there_is_one() {
        let sys = RecordingSystem::new();
        sys.conntrackd_up.store(false, Ordering::SeqCst);
        let paths = Paths::new("/r");
        sys.add_file(paths.init_script("conntrackd"));
        let r = execute(&[Action::EnsureConntrackd], &paths, &sys);
        assert!(r[0].ok);
        assert_eq!(sys.log(), vec!["run /r/etc/init.d/conntrackd start".to_string()]);
    }

    #[test]
    fn a_live_conntrackd_process_keeps_its_lock() {
        let sys = RecordingSystem::new();
        sys.conntrackd_up.store(false, Ordering::SeqCst);
        sys.conntrackd_process.store(true, Ordering::SeqCst);
        let paths = Paths::new("/r");
        sys.add_file(paths.conntrackd_lock());
        let r = execute(&[Action::EnsureConntrackd], &paths, &sys);
        assert!(!r[0].ok);
        assert!(sys.log().is_empty(), "{:?}", sys.log());
    }

    #[test]
    fn procd_replies_are_read_for_a_running_instance() {
        let up = r#"{"dnsmasq":{"instances":{"dnsmasq":{"running":true,"pid":812}}}}"#;
        assert!(procd_reply_running(up, "dnsmasq"));
        assert!(!procd_reply_running(up, "odhcpd"));
        assert!(!procd_reply_running(r#"{"dnsmasq":{"instances":{"dnsmasq":{"running":false}}}}"#, "dnsmasq"));
        assert!(!procd_reply_running("{}", "dnsmasq"));
        assert!(!procd_reply_running("", "dnsmasq"));
        assert!(!procd_reply_running("{garbage", "dnsmasq"));
    }

    #[test]
    fn a_service_procd_runs_is_not_asked_again_through_its_init_script() {
        let sys = RecordingSystem::new();
        sys.set_ubus_reply("service", r#"{"dnsmasq":{"instances":{"dnsmasq":{"running":true}}}}"#);
        let paths = Paths::new("/r");
        let r = execute(&[Action::ExpectService { name: "dnsmasq".into(), running: true }], &paths, &sys);
        assert!(r[0].ok, "{r:?}");
        assert_eq!(sys.log(), vec![r#"ubus call service list {"name":"dnsmasq"}"#.to_string()]);
        // stopped per procd: the init script has the last word (a legacy script procd
        // does not know)
        let r = execute(&[Action::ExpectService { name: "odhcpd".into(), running: false }], &paths, &sys);
        assert!(r[0].ok);
        assert_eq!(sys.log().last().unwrap(), "run /r/etc/init.d/odhcpd running");
    }

    #[test]
    fn running_conntrackd_is_left_alone() {
        let sys = RecordingSystem::new();
        let r = execute(&[Action::EnsureConntrackd], &Paths::new("/r"), &sys);
        assert!(r[0].ok && sys.log().is_empty());
    }

    fn with_lan_vip() -> PlanInputs {
        PlanInputs { backup_via: Some(std::net::Ipv4Addr::new(192, 0, 2, 1)), ..inputs() }
    }

    const ROUTE_ADD: &str = "run ip -4 route replace default via 192.0.2.1 metric 4096 protocol static";
    const ROUTE_DEL: &str = "run ip -4 route del default via 192.0.2.1 metric 4096 protocol static";

    #[test]
    fn backup_then_master_routes_through_the_vip_only_while_backup() {
        let sys = RecordingSystem::new();
        let paths = Paths::new("/r");
        let r = execute(&plan_for(&Transition::to(GroupState::Backup), &with_lan_vip()), &paths, &sys);
        assert!(r.iter().all(|x| x.ok), "{r:#?}");
        let log = sys.log();
        assert!(idx(&log, "network.interface.wan down") < idx(&log, ROUTE_ADD), "{log:#?}");
        assert!(idx(&log, "dnsmasq stop") < idx(&log, "write /r/tmp/resolv.conf"), "{log:#?}");
        assert!(log[idx(&log, "write /r/tmp/resolv.conf")].ends_with(r#"nameserver 192.0.2.1\n""#), "{log:#?}");

        let sys2 = RecordingSystem::new();
        let ours = sys.read_file(&paths.resolv_conf()).unwrap();
        sys2.put_file(paths.resolv_conf(), &ours);
        let r = execute(&plan_for(&Transition::to(GroupState::Master), &with_lan_vip()), &paths, &sys2);
        assert!(r.iter().all(|x| x.ok), "{r:#?}");
        let log = sys2.log();
        let del = idx(&log, ROUTE_DEL);
        let link = idx(&log, "link /r/tmp/resolv.conf -> resolv.conf.d/resolv.conf.auto");
        assert!(link < idx(&log, "netdev_group") && idx(&log, "network.interface.wan up") < del, "{log:#?}");
        assert!(link < idx(&log, "network.interface.wan up"), "{log:#?}");
        assert!(link < idx(&log, "dnsmasq start"), "{log:#?}");
    }

    #[test]
    fn fault_and_stop_undo_the_route_and_the_resolver_after_the_wan_is_down() {
        for st in [GroupState::Fault, GroupState::Stop] {
            let sys = RecordingSystem::new();
            let paths = Paths::new("/r");
            sys.put_file(paths.resolv_conf(), resolver_text(std::net::Ipv4Addr::new(192, 0, 2, 1)).as_bytes());
            let r = execute(&plan_for(&Transition::to(st), &with_lan_vip()), &paths, &sys);
            assert!(r.iter().all(|x| x.ok), "{st}: {r:#?}");
            let log = sys.log();
            assert!(idx(&log, "network.interface.wan down") < idx(&log, ROUTE_DEL), "{st}: {log:#?}");
            assert!(idx(&log, ROUTE_DEL) < idx(&log, "link /r/tmp/resolv.conf"), "{st}: {log:#?}");
            assert!(!log.iter().any(|l| l.contains("route replace") || l.starts_with("write ")), "{st}: {log:#?}");
        }
    }

    #[test]
    fn removing_a_backup_route_that_is_not_there_is_fine_other_failures_are_not() {
        let paths = Paths::new("/r");
        let del = [Action::BackupRoute { via: std::net::Ipv4Addr::new(192, 0, 2, 1), install: false }];
        let sys = RecordingSystem::new();
        sys.fail_saying("route del", "RTNETLINK answers: No such process");
        let r = execute(&del, &paths, &sys);
        assert!(r[0].ok, "{r:?}");
        assert_eq!(r[0].detail.as_deref(), Some("no such route"));
        let sys = RecordingSystem::new();
        sys.fail_saying("route del", "RTNETLINK answers: Operation not permitted");
        let r = execute(&del, &paths, &sys);
        assert!(!r[0].ok, "{r:?}");
        assert_eq!(r[0].detail.as_deref(), Some("exit 1: RTNETLINK answers: Operation not permitted"));
        // Adding a route via an unreachable VIP is a recorded failure, never tolerated.
        let sys = RecordingSystem::new();
        sys.fail_saying("route replace", "RTNETLINK answers: No such process");
        let add = [Action::BackupRoute { via: std::net::Ipv4Addr::new(192, 0, 2, 1), install: true }];
        assert!(!execute(&add, &paths, &sys)[0].ok);
    }

    #[test]
    fn a_resolver_file_someone_else_wrote_is_left_alone() {
        let paths = Paths::new("/r");
        let restore = [Action::BackupResolver { via: std::net::Ipv4Addr::new(192, 0, 2, 1), install: false }];
        let sys = RecordingSystem::new();
        sys.put_file(paths.resolv_conf(), b"search lan\nnameserver 127.0.0.1\n");
        let r = execute(&restore, &paths, &sys);
        assert!(r[0].ok && r[0].detail.as_deref() == Some("not ours; left alone"), "{r:?}");
        assert!(sys.log().is_empty(), "{:?}", sys.log());
        // Nothing there at all (or a link to netifd's file): nothing to do either.
        let sys = RecordingSystem::new();
        assert!(execute(&restore, &paths, &sys)[0].ok);
        assert!(sys.log().is_empty());
    }
}
