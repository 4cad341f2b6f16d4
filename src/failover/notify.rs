//! keepalived's notify hook: parse its arguments, let the newest event win, apply the
//! plan under the transition lock, record the outcome, announce it. Also [`converge`],
//! which re-applies the plan for the state the node is really in (daemon start).

use super::exec::{execute, UBUS_TIMEOUT};
use super::history::{self, HistoryRecord};
use super::plan::{plan_for, Action, PlanInputs};
use super::state::{self, Current, Desired};
use super::system::{RealSystem, System};
use super::{GroupState, Transition};
use crate::quoted;
use serde_json::json;
use crate::paths::Paths;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

/// The ubus event sent after every applied transition.
pub const TRANSITION_EVENT: &str = "muros_ha.transition";

/// `GROUP` for a sync group's notify, `INSTANCE` for a lone instance's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyKind {
    Group,
    Instance,
}

/// The longest group or instance name accepted.
pub const NAME_MAX: usize = 64;

/// What keepalived appends to the configured notify command: `TYPE NAME STATE [PRIO]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyArgs {
    pub kind: NotifyKind,
    /// keepalived's names are short; anything longer is not one of ours.
    pub name: heapless::String<NAME_MAX>,
    pub state: GroupState,
    pub priority: Option<u8>,
}

impl NotifyArgs {
    /// Strict: anything else than what keepalived sends is refused before any side effect.
    pub fn parse(args: &[String]) -> Result<NotifyArgs, String> {
        let (kind, name, state, prio) = match args {
            [k, n, s] => (k, n, s, None),
            [k, n, s, p] => (k, n, s, Some(p)),
            _ => return Err(format!("expected TYPE NAME STATE [PRIO], got {} argument(s)", args.len())),
        };
        let kind = match kind.as_str() {
            "GROUP" => NotifyKind::Group,
            "INSTANCE" => NotifyKind::Instance,
            other => return Err(format!("TYPE {} is not GROUP or INSTANCE", quoted(other))),
        };
        let not_a_name = || format!("NAME {} is not a keepalived group or instance name", quoted(name));
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic()) {
            return Err(not_a_name());
        }
        let name = heapless::String::try_from(name.as_str()).map_err(|_| not_a_name())?;
        let state: GroupState = match state.as_str() {
            s @ ("MASTER" | "BACKUP" | "FAULT" | "STOP") => s.parse()?,
            other => return Err(format!("STATE {} is not MASTER, BACKUP, FAULT or STOP", quoted(other))),
        };
        let priority = match prio {
            None => None,
            Some(p) => Some(crate::parse_u64(p).and_then(|n| u8::try_from(n).ok()).ok_or_else(|| format!("PRIO {} is not 0..255", quoted(p)))?),
        };
        Ok(NotifyArgs { kind, name, state, priority })
    }

    /// The reason written to `current`, the history and the event.
    pub fn reason(&self) -> String {
        let kind = match self.kind {
            NotifyKind::Group => "GROUP",
            NotifyKind::Instance => "INSTANCE",
        };
        match self.priority {
            Some(p) => format!("keepalived {} {} {} prio {}", kind, self.name, self.state, p),
            None => format!("keepalived {} {} {}", kind, self.name, self.state),
        }
    }
}

/// What [`run_transition`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied(HistoryRecord),
    /// A newer notify recorded its state while we waited for the lock; it runs instead.
    Superseded { mine: Desired, newer: Desired },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Applied(r) => {
                write!(f, "{} → {} in {} ms", r.from.map_or("none", |s| s.as_str()), r.to, r.ms)?;
                for a in r.actions.iter().filter(|a| !a.ok) {
                    write!(f, "\n  failed: {} ({})", a.action, a.detail.as_deref().unwrap_or(""))?;
                }
                Ok(())
            }
            Outcome::Superseded { mine, newer } => write!(
                f,
                "{} (seq {}) superseded by {} (seq {}); nothing done",
                mine.state, mine.seq, newer.state, newer.seq
            ),
        }
    }
}

fn o_ok(o: &Outcome) -> bool {
    match o {
        Outcome::Applied(r) => r.ok,
        Outcome::Superseded { .. } => true,
    }
}

pub(crate) fn inputs_cache(paths: &Paths) -> PathBuf {
    paths.state_dir().join("plan-inputs.json")
}

/// Keep `inputs` as the last good copy; the file is only rewritten when it changes.
fn remember_inputs(paths: &Paths, inputs: &PlanInputs) -> io::Result<()> {
    let bytes = inputs.to_json_bytes()?;
    let cache = inputs_cache(paths);
    if crate::fsutil::read(&cache).ok().as_deref() == Some(bytes.as_slice()) {
        return Ok(());
    }
    state::replace_quick(&cache, &bytes)
}

/// The plan inputs from the live config; when it does not validate (an operator
/// mid-edit), the last good inputs, because keepalived does not wait. The second value
/// says why the live config was not used. `remember` keeps a valid config's inputs as
/// the new last good copy (the hook does; `muros-ha plan` only looks).
pub fn load_inputs(paths: &Paths, remember: bool) -> (PlanInputs, Option<String>) {
    match crate::model::load(paths) {
        Ok(cfg) => {
            let inputs = PlanInputs::from(&cfg);
            if remember {
                if let Err(e) = remember_inputs(paths, &inputs) {
                    log::warn!("cannot cache plan inputs in {}: {}", inputs_cache(paths).display(), e);
                }
            }
            (inputs, None)
        }
        Err(errors) => {
            let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
            let cached = crate::fsutil::read(inputs_cache(paths)).ok().and_then(|b| PlanInputs::parse(&b).ok());
            match cached {
                Some(i) => (i, Some(format!("config invalid ({}), used last good plan inputs", first))),
                None => (
                    PlanInputs::default(),
                    Some(format!("config invalid ({}) and no last good plan inputs: conntrackd only", first)),
                ),
            }
        }
    }
}

/// Why the daemon's fence is up, when it is: a FAULT it caused says so in the history.
fn fence_reason(paths: &Paths) -> Option<String> {
    let up = crate::fsutil::read_to_string(paths.fence_file()).ok()?;
    if up.trim() == "0" || up.trim().is_empty() {
        return None;
    }
    let why = crate::fsutil::read_to_string(paths.fence_reason()).unwrap_or_default();
    Some(why.lines().next().unwrap_or("fenced by muros-ha").chars().take(400).collect())
}

/// Apply `to` now, unless a newer request supersedes it. Transitions run strictly one at
/// a time under `paths.transition_lock()`.
pub fn run_transition(paths: &Paths, sys: &dyn System, to: GroupState, reason: &str) -> io::Result<Outcome> {
    // Record the wish before queueing on the lock: whoever holds the lock now, or
    // queues with us, can see that a newer state is wanted.
    // The VRRP event, as near as the hook can tell: keepalived forks it at the change.
    let event = Instant::now();
    let mine = state::claim_desired(paths, to)?;
    let _lock = state::lock_exclusive(&paths.transition_lock())?;
    if let Some(newer) = state::read_desired(paths) {
        if newer.seq != mine.seq {
            return Ok(Outcome::Superseded { mine, newer });
        }
    }
    let started = Instant::now();
    let time = state::now_secs();
    let (inputs, note) = load_inputs(paths, true);
    let from = state::read_current(paths).map(|c| c.state);
    let plan = plan_for(&Transition { from, to }, &inputs);
    let offset = u64::try_from(event.elapsed().as_millis()).unwrap_or(0);
    let actions = execute(&plan, paths, sys);
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let steps = (to == GroupState::Master).then(|| super::exec::steps(&plan, &actions, offset));
    let ok = actions.iter().all(|a| a.ok);
    let mut reason = match note {
        Some(n) => format!("{}; {}", reason, n),
        None => reason.to_string(),
    };
    if to == GroupState::Fault {
        if let Some(why) = fence_reason(paths) {
            reason = format!("{}; {}", reason, why);
        }
    }
    let rec = HistoryRecord { time, from, to, reason: reason.clone(), ok, ms, seq: mine.seq, actions, steps };
    state::write_current(
        paths,
        &Current { state: to, time: state::now_secs(), from, reason: reason.clone(), ok, seq: mine.seq },
    )?;
    if let Err(e) = history::append(paths, &rec) {
        log::warn!("cannot append to {}: {}", history::history_path(paths).display(), e);
    }
    if plan.contains(&Action::Announce) {
        let data = json!({
            "from": from.map(|s| s.as_str()),
            "to": to.as_str(),
            "reason": reason,
            "time": time,
            "ms": ms,
        });
        // The event is news, not part of the failover: a missing ubusd is logged only.
        if let Err(e) = sys.ubus_send(TRANSITION_EVENT, &data, UBUS_TIMEOUT) {
            log::warn!("ubus send {}: {}", TRANSITION_EVENT, e);
        }
    }
    Ok(Outcome::Applied(rec))
}

/// The state this node is really in, from where keepalived put the VIPs: keepalived
/// adds them on MASTER and removes them otherwise, so they outlive a crash of ours.
/// Without VIPs to look at, the last recorded state (or BACKUP, the safe one).
pub fn observed_state(inputs: &PlanInputs, current: Option<&Current>, sys: &dyn System) -> (GroupState, String) {
    let recorded = current.map(|c| c.state);
    if inputs.vips.is_empty() {
        let s = recorded.unwrap_or(GroupState::Backup);
        return (s, format!("no VIPs configured; last recorded state {}", recorded.map_or("none", |s| s.as_str())));
    }
    let addrs = match sys.addresses() {
        Ok(a) => a,
        Err(e) => {
            let s = recorded.unwrap_or(GroupState::Backup);
            return (s, format!("cannot list addresses ({}); last recorded state", e));
        }
    };
    let ip_of = |s: &str| s.split('/').next().and_then(|a| a.parse::<IpAddr>().ok());
    let held: Vec<&str> = inputs
        .vips
        .iter()
        .filter(|v| addrs.iter().any(|(dev, a)| dev == &v.device && ip_of(a).is_some() && ip_of(a) == ip_of(&v.address)))
        .map(|v| v.address.as_str())
        .collect();
    if held.is_empty() {
        // A node without VIPs is not master; FAULT/STOP stay what they were.
        let s = match recorded {
            Some(GroupState::Fault) => GroupState::Fault,
            Some(GroupState::Stop) => GroupState::Stop,
            _ => GroupState::Backup,
        };
        (s, "no VIP present".into())
    } else {
        (GroupState::Master, format!("VIPs present: {}", held.join(", ")))
    }
}

/// Re-apply the plan for the state this node is really in. The daemon calls it at start:
/// a hook killed mid-plan, or a keepalived SIGKILLed and restarted (pitfall 8), leaves
/// the system half way; the plans are idempotent, so running the whole one converges.
pub fn converge(paths: &Paths) -> io::Result<Outcome> {
    converge_with(paths, &RealSystem::new(paths.ubus_socket()))
}

pub fn converge_with(paths: &Paths, sys: &dyn System) -> io::Result<Outcome> {
    let (inputs, _) = load_inputs(paths, true);
    let current = state::read_current(paths);
    let (to, why) = observed_state(&inputs, current.as_ref(), sys);
    run_transition(paths, sys, to, &format!("converge: {}", why))
}

/// `muros-ha notify [--root DIR] TYPE NAME STATE [PRIO]`. Exit 2 on bad arguments
/// (nothing done), 1 when the state dir is unusable, else 0: failed actions are in the
/// history, and keepalived could do nothing better with a non-zero code.
pub fn command(paths: &Paths, args: &[String]) -> i32 {
    let parsed = match NotifyArgs::parse(args) {
        Ok(a) => a,
        Err(e) => {
            errln!("muros-ha notify: {}", e);
            errln!("usage: muros-ha notify [--root DIR] GROUP|INSTANCE NAME MASTER|BACKUP|FAULT|STOP [PRIO]");
            return 2;
        }
    };
    // keepalived throws the hook's stderr away: on a router this goes to syslog.
    crate::logging::init(crate::logging::choose_sink(paths.is_system_root()), log::LevelFilter::Info);
    let sys = RealSystem::new(paths.ubus_socket());
    match run_transition(paths, &sys, parsed.state, &parsed.reason()) {
        Ok(o @ Outcome::Applied(_)) if !o_ok(&o) => {
            log::warn!("notify: {}", o);
            0
        }
        Ok(o) => {
            log::info!("notify: {}", o);
            0
        }
        Err(e) => {
            log::error!("notify {}: {}", parsed.reason(), e);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::plan::VipRef;
    use crate::failover::system::RecordingSystem;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn keepalived_arguments_parse() {
        let a = NotifyArgs::parse(&s(&["GROUP", "muros_ha", "MASTER", "150"])).unwrap();
        assert_eq!(a.state, GroupState::Master);
        assert_eq!(a.priority, Some(150));
        assert_eq!(a.reason(), "keepalived GROUP muros_ha MASTER prio 150");
        let b = NotifyArgs::parse(&s(&["INSTANCE", "lan", "FAULT"])).unwrap();
        assert_eq!((b.kind, b.priority), (NotifyKind::Instance, None));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            &["GROUP", "g", "master", "1"][..],
            &["group", "g", "MASTER"],
            &["GROUP", "", "MASTER"],
            &["GROUP", "g h", "MASTER"],
            &["GROUP", "g", "MASTER", "256"],
            &["GROUP", "g", "MASTER", "-1"],
            &["GROUP", "g", "MASTER", "1", "extra"],
            &["GROUP", "g"],
            &[],
        ] {
            assert!(NotifyArgs::parse(&s(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_up_to_name_max_bytes() {
        let longest = "n".repeat(NAME_MAX);
        assert_eq!(NotifyArgs::parse(&s(&["GROUP", &longest, "BACKUP"])).unwrap().name.as_str(), longest);
        let e = NotifyArgs::parse(&s(&["GROUP", &format!("{longest}x"), "BACKUP"])).unwrap_err();
        assert!(e.starts_with("NAME "), "{e}");
    }

    fn inputs_with_vip() -> PlanInputs {
        PlanInputs {
            vips: vec![VipRef { device: "br-lan".into(), address: "192.0.2.1/24".into() }],
            ..PlanInputs::default()
        }
    }

    #[test]
    fn a_vip_on_its_device_means_master() {
        let sys = RecordingSystem::new();
        sys.set_addresses(vec![("br-lan".into(), "192.0.2.1/32".into())]);
        assert_eq!(observed_state(&inputs_with_vip(), None, &sys).0, GroupState::Master);
        sys.set_addresses(vec![("eth9".into(), "192.0.2.1/24".into())]);
        assert_eq!(observed_state(&inputs_with_vip(), None, &sys).0, GroupState::Backup);
    }

    #[test]
    fn no_vip_after_a_recorded_master_means_backup_and_fault_stays_fault() {
        let sys = RecordingSystem::new();
        let cur = |st| Current { state: st, time: 0, from: None, reason: String::new(), ok: true, seq: 1 };
        assert_eq!(observed_state(&inputs_with_vip(), Some(&cur(GroupState::Master)), &sys).0, GroupState::Backup);
        assert_eq!(observed_state(&inputs_with_vip(), Some(&cur(GroupState::Fault)), &sys).0, GroupState::Fault);
        assert_eq!(observed_state(&PlanInputs::default(), Some(&cur(GroupState::Master)), &sys).0, GroupState::Master);
    }
}
