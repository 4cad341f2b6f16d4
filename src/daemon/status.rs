//! `ubus call muros_ha status` — what LuCI's Cluster status page and scripts read.
//! Never the password. The shape is documented in DESIGN.md.

use super::Daemon;
use crate::failover::system::{conntrackd_socket, conntrackd_stats};
use crate::failover::{history, state, GroupState, RealSystem, System};
use crate::model::Config;
use crate::ubus::{reply_json, Arg, Reply, Request};
use serde_json::{json, Value};
use crate::proc::run_capture;
use std::time::Duration;

pub const POLICY: &[Arg] = &[];

/// Longest a status probe (init script `running`, `conntrackd -s`) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub fn call(d: &mut Daemon, _req: &Request<'_>) -> Reply {
    reply_json(report(d))
}

pub fn report(d: &Daemon) -> Value {
    let sys = RealSystem::new(d.paths.ubus_socket());
    let loaded = crate::model::load(&d.paths);
    let current = state::read_current(&d.paths);
    let records = history::read(&d.paths, None);
    let last = records.last().cloned();
    // The newest takeover, with its per-step figures (issue 16).
    let failover = records.into_iter().rev().find(|r| r.to == crate::failover::GroupState::Master);
    let addresses = sys.addresses().unwrap_or_default();

    let mut out = json!({
        "version": crate::VERSION,
        "state": current.as_ref().map_or("UNKNOWN".to_string(), |c| c.state.to_string()),
        "last_transition": last.map(|r| json!({
            "time": r.time, "from": r.from, "to": r.to, "reason": r.reason, "ok": r.ok, "ms": r.ms,
        })),
        "last_failover": failover.map(|r| json!({ "time": r.time, "from": r.from, "ms": r.ms, "ok": r.ok, "steps": r.steps })),
        "alerts": d.alerts.list(),
        "daemon_started": d.started,
        // peer branch: the authenticated peer link's view, plus VRRP's split-brain watch.
        "peer": peer_json(d),
        "applies": d.applies.to_json(),
        "last_split_brain": d.last_split,
        "health": d.health.as_ref().filter(|h| !h.checks.is_empty()).map(|h| h.to_json()),
        "fence": d.watch.as_ref().and_then(|w| w.fence.as_ref()).map(|f| json!({ "since": f.since, "reason": f.reason, "by_link": f.by_link })),
    });
    let Some(obj) = out.as_object_mut() else { return out };
    match &loaded {
        Err(errors) => {
            obj.insert("config_valid".into(), json!(false));
            obj.insert("config_errors".into(), json!(errors.len()));
        }
        Ok(cfg) => {
            obj.insert("config_valid".into(), json!(true));
            obj.insert("config_errors".into(), json!(0));
            describe_config(d, cfg, &sys, &addresses, obj);
            // What the advert watch last heard from the peer per instance (source,
            // priority, whether keepalived accepts it).
            let adverts = d.watch.as_ref().map(|w| w.peers(cfg, std::time::Instant::now())).unwrap_or_default();
            obj.insert("peer_adverts".into(), Value::Array(adverts));
        }
    }
    out
}

fn peer_json(d: &Daemon) -> Value {
    let mut v = match &d.peer {
        Some(p) => p.shared.lock().to_json(),
        None => json!({ "state": "unknown", "local_key": Value::Null }),
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("split_brain".into(), json!(d.alerts.is_active("split_brain")));
    }
    v
}

/// `addresses`: `(device, "addr/prefix")` of the host, read once per `status` call.
fn describe_config(d: &Daemon, cfg: &Config, sys: &RealSystem, addresses: &[(String, String)], obj: &mut serde_json::Map<String, Value>) {
    let has_addr = |dev: &str, addr: &str| addresses.iter().any(|(d2, a)| d2 == dev && a.split('/').next() == Some(addr));
    obj.insert("enabled".into(), json!(cfg.enabled));
    obj.insert("role".into(), json!(cfg.role));
    obj.insert("priority".into(), json!(cfg.priority));
    obj.insert("effective_priority".into(), json!(cfg.effective_priority()));
    obj.insert("maintenance".into(), json!(cfg.maintenance));
    obj.insert("vrrp_version".into(), json!(cfg.vrrp_version));
    obj.insert("advert_ms".into(), json!(cfg.advert_ms));
    obj.insert("preempt".into(), json!(cfg.preempt));

    // An instance's real state is whether its VIP sits on its device right now.
    let instances: Vec<Value> = cfg
        .vips
        .iter()
        .map(|v| {
            let held = has_addr(&v.interface.device, &v.address.addr.to_string());
            json!({
                "name": v.name, "interface": v.interface.logical, "device": v.interface.device,
                "vrid": v.vrid, "address": v.address.to_string(),
                "state": if held { "MASTER" } else { "BACKUP" },
            })
        })
        .collect();
    obj.insert("instances".into(), Value::Array(instances));

    if let Some(w) = &cfg.wan {
        let operstate = crate::fsutil::read_to_string(format!("/sys/class/net/{}/operstate", w.device)).map(|s| s.trim_ascii().to_string()).ok();
        let addrs: Vec<&String> = addresses.iter().filter(|(dev, a)| *dev == w.device && !a.contains(':')).map(|(_, a)| a).collect();
        obj.insert(
            "wan".into(),
            json!({
                "mode": "dhcp",
                "interface": w.logical, "device": w.device, "parent": w.parent, "macaddr": w.mac_string(),
                "up": operstate.as_deref().is_some_and(|s| s == "up" || s == "unknown"),
                "operstate": operstate,
                "address": addrs.first(),
                // The lease a takeover starts from (own DHCP or the peer's), if valid.
                "cached_lease": crate::failover::lease::load(&d.paths, state::now_secs()).map(|l| l.to_json(state::now_secs())),
            }),
        );
    } else if let Some(v) = cfg.static_wan() {
        // The static WAN: up on this router while it holds the WAN VIP.
        let vip = v.address.addr.to_string();
        let held = addresses.iter().any(|(dev, a)| *dev == v.interface.device && a.split('/').next() == Some(vip.as_str()));
        obj.insert(
            "wan".into(),
            json!({
                "mode": "static",
                "interface": v.interface.logical, "device": v.interface.device,
                "vip": v.address.to_string(), "gateway": v.gateway.map(|g| g.to_string()),
                "up": held,
                "address": if held { Some(vip) } else { None },
            }),
        );
    } else {
        obj.insert("wan".into(), Value::Null);
    }

    let services: Vec<Value> = cfg
        .services
        .iter()
        .map(|s| {
            let script = d.paths.init_script(s);
            let running = script.is_file() && run_capture(&[script.display().to_string(), "running".into()], PROBE_TIMEOUT).is_ok();
            json!({ "name": s, "installed": script.is_file(), "running": running })
        })
        .collect();
    obj.insert("services".into(), Value::Array(services));

    let sock = conntrackd_socket(&d.paths);
    let conntrackd_running = sys.socket_alive(&sock);
    let stats = if conntrackd_running {
        run_capture(&["conntrackd".into(), "-C".into(), d.paths.conntrackd_conf().display().to_string(), "-s".into()], PROBE_TIMEOUT).ok().map(|t| conntrackd_stats(&t))
    } else {
        None
    };
    let link = crate::fsutil::read_to_string(format!("/sys/class/net/{}/operstate", cfg.sync.interface.device)).map(|s| s.trim_ascii().to_string()).ok();
    let link_up = link.as_deref().is_some_and(|s| s == "up" || s == "unknown");
    obj.insert(
        "sync".into(),
        json!({
            "interface": cfg.sync.interface.logical, "device": cfg.sync.interface.device,
            "mode": cfg.sync.mode, "peer_ip": cfg.sync.peer_ip,
            "link": link, "link_up": link_up,
            "conntrackd_running": conntrackd_running,
            "stats": stats,
            "state": match (link_up, conntrackd_running) {
                (true, true) => "ok",
                (false, _) => "link_down",
                (true, false) => "conntrackd_down",
            },
        }),
    );
    if let Some(c) = state::read_current(&d.paths) {
        obj.insert("state_ok".into(), json!(c.ok));
        if c.state == GroupState::Master && !cfg.enabled {
            obj.insert("note".into(), json!("disabled in config but MASTER"));
        }
    }
}
