//! The failover engine: keepalived's notify hook.
//!
//! | file | job |
//! |---|---|
//! | [`plan`] | transition + config → ordered [`Action`]s; pure, no I/O |
//! | [`system`] | the [`System`] trait: every side effect; a real backend and a recording dry run; conntrackd's control socket and `-s` counters |
//! | [`exec`] | runs a plan through a `System`, one step at a time, parallel groups on threads |
//! | [`state`] | `desired` (queued newest state) and `current` (last applied) records |
//! | [`history`] | bounded JSON-lines log of transitions with each action's result |
//! | [`notify`] | the hook itself: args, supersede, lock, run, record, announce; and [`converge`] |
//! | [`show_plan`] | `muros-ha plan`: print a plan, run nothing |
//!
//! Data flow of one keepalived event:
//!
//! ```text
//! notify GROUP muros_ha MASTER 150
//!   → state::claim_desired (seq N)          newest event wins
//!   → flock(transition.lock, CLOEXEC)       transitions strictly one at a time
//!   → desired.seq still N?  no → exit (a newer notify runs)
//!   → plan(MASTER, config) → exec::execute(System)
//!   → state::write_current, history::append, ubus event muros_ha.transition
//! ```

pub mod exec;
pub mod history;
pub mod lease;
pub mod notify;
pub mod plan;
pub mod show_plan;
pub mod state;
pub mod system;

pub use exec::{execute, ActionResult};
pub use history::{HistoryRecord, ActionRecord};
pub use notify::{converge, run_transition, NotifyArgs, Outcome};
pub use plan::{plan, plan_for, Action, ConntrackdOp, PlanInputs};
pub use system::{CmdOutcome, RealSystem, RecordingSystem, System};

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// The state keepalived reports for the sync group (or the single instance). In
/// records exactly `"MASTER"` etc.: upper case only (unlike [`FromStr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GroupState {
    Master,
    Backup,
    Fault,
    Stop,
}

impl GroupState {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Master => "MASTER",
            GroupState::Backup => "BACKUP",
            GroupState::Fault => "FAULT",
            GroupState::Stop => "STOP",
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GroupState {
    type Err = String;
    /// keepalived passes upper case; the `plan` command accepts lower case too.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "MASTER" => Ok(GroupState::Master),
            "BACKUP" => Ok(GroupState::Backup),
            "FAULT" => Ok(GroupState::Fault),
            "STOP" => Ok(GroupState::Stop),
            _ => Err(format!("unknown state {} (allowed: MASTER, BACKUP, FAULT, STOP)", crate::quoted(s))),
        }
    }
}

/// A change of the group state. `from` is `None` when nothing was recorded yet
/// (first event after boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: Option<GroupState>,
    pub to: GroupState,
}

impl Transition {
    pub fn to(to: GroupState) -> Self {
        Transition { from: None, to }
    }
}
