//! The long-running daemon and its ubus object `muros_ha`.
//!
//! One file per method; each declares its argument policy (`POLICY`) beside its handler
//! (`call`). [`object`] binds them; [`run`] is the event loop: the ubus socket, signal
//! self-pipes, the peer thread's wake pipe ([`crate::peer`]) and a raw VRRP socket per
//! VIP device for the split-brain watch ([`watch`]), with a 0.5 s tick only while it
//! has something to time (MASTER, a fence, a recent advert).

pub mod alerts;
pub mod apply;
pub mod handover;
pub mod health;
pub mod hotplug;
pub mod history;
pub mod maintenance;
pub mod reload;
pub mod run;
pub mod status;
pub mod validate;
pub mod adverts;
pub mod vrrp_socket;
pub mod watch;

use crate::paths::Paths;
use crate::ubus::{MethodError, Object, Status};

pub use run::run;

/// The daemon's state, kept across ubusd restarts.
pub struct Daemon {
    pub paths: Paths,
    /// Binary keepalived's notify line calls (this executable on a router).
    pub hook_binary: String,
    /// Run `keepalived -t` before installing (off only in tests without interfaces).
    pub verify: bool,
    pub alerts: alerts::Alerts,
    /// The VRRP advert watch and the fence (`None` until a valid config was read).
    pub watch: Option<watch::Watch>,
    /// A maintenance yield in progress (see `maintenance::yield_now`).
    pub yielding: Option<maintenance::Yield>,
    /// The last split brain seen (`status.last_split_brain`).
    pub last_split: Option<watch::Episode>,
    /// Unix seconds when the daemon started.
    pub started: u64,
    /// The peer-link thread (peer branch); `None` when its key file cannot be set up.
    pub peer: Option<crate::peer::link::Handle>,
    /// `handover` calls waiting for the peer's answer (each under a random id).
    pub handovers: Vec<handover::Pending>,
    /// How many non-dry-run applies ran, and the last one's reply: `status` shows
    /// them, so LuCI reports the apply that its Save & Apply caused (through procd's
    /// reload trigger and SIGHUP) instead of running another one.
    pub applies: apply::Record,
    /// Upstream health checks (`None` until a valid config was read).
    pub health: Option<health::Health>,
    /// `/etc/hotplug.d/muros-ha/` scripts and their worker.
    pub hotplug: hotplug::Hotplug,
    /// A transition event arrived: the loop reads the history records after
    /// `hotplug_seq` and queues them for the scripts.
    pub transition_seen: bool,
    pub hotplug_seq: u64,
    /// When the MASTER last asked netifd for its WAN lease (`run::lease_tick`).
    pub lease_polled: Option<std::time::Instant>,
}

impl Daemon {
    pub fn new(paths: Paths, hook_binary: String, verify: bool) -> Self {
        let hotplug = hotplug::Hotplug::new(paths.join("/etc/hotplug.d/muros-ha"));
        let hotplug_seq = crate::failover::history::read(&paths, Some(1)).last().map_or(0, |r| r.seq);
        Daemon { paths, hook_binary, verify, alerts: alerts::Alerts::default(), watch: None, yielding: None, last_split: None, started: crate::failover::state::now_secs(), peer: None, handovers: Vec::new(), applies: apply::Record::default(), health: None, hotplug, transition_seen: false, hotplug_seq, lease_polled: None }
    }
}

/// The ubus object with every method and its policy.
pub fn object() -> Object<Daemon> {
    Object::new(OBJECT)
        .method("status", status::POLICY, status::call)
        .method("validate", validate::POLICY, validate::call)
        .method("apply", apply::POLICY, apply::call)
        .method("history", history::POLICY, history::call)
        .method("maintenance", maintenance::POLICY, maintenance::call)
        .method("handover", handover::POLICY, handover::call)
}

/// Our ubus object path.
pub const OBJECT: &str = "muros_ha";
/// Every method, in registration order (the LuCI ACL test compares against it).
pub const METHODS: &[&str] = &["status", "validate", "apply", "history", "maintenance", "handover"];

pub(crate) fn internal(message: impl Into<String>) -> MethodError {
    MethodError::new(Status::UnknownError, message)
}
