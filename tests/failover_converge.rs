//! Crash mid-plan and convergence: a hook killed half way leaves no lock behind, the next
//! event runs normally, and `converge` re-applies the plan for the state the VIPs say.

mod failover_support;

use failover_support::*;
use muros_ha::failover::notify::{converge_with, Outcome};
use muros_ha::failover::system::RecordingSystem;
use muros_ha::paths::Paths;
use std::fs;
use std::time::{Duration, Instant};

#[test]
fn a_hook_killed_mid_plan_leaves_no_lock_and_the_next_event_runs() {
    let r = TestRoot::new("crash");
    r.set_inputs(true, None, &["slow"]);
    r.add_service("slow", "sleep 3");
    let mut a = r.notify_cmd(&["GROUP", "muros_ha", "MASTER", "150"], &default_path()).spawn().unwrap();
    assert!(wait_until(Duration::from_secs(5), || r.init_lines().iter().any(|l| l.starts_with("slow start begin"))));
    a.kill().unwrap(); // SIGKILL: no cleanup code of ours runs
    a.wait().unwrap();
    // the orphaned init script is ours to stop too
    let script_pid: u32 = r.init_lines()[0].rsplit(' ').next().unwrap().parse().unwrap();
    kill(script_pid);

    assert!(r.history().is_empty(), "a killed hook recorded a transition");
    let t0 = Instant::now();
    let o = r.notify(&["GROUP", "muros_ha", "BACKUP", "100"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(t0.elapsed() < Duration::from_secs(2), "waited for a dead hook's lock: {:?}", t0.elapsed());
    let h = r.history();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["to"], "BACKUP");
    assert_eq!(h[0]["from"], serde_json::Value::Null);
    assert_eq!(r.current()["state"], "BACKUP");
}

fn inputs_with_vip(r: &TestRoot) {
    let v = serde_json::json!({
        "enabled": true, "wan": "wan", "services": ["dnsmasq"],
        "vips": [{"device": "br-lan", "address": "192.0.2.1/24"}],
    });
    fs::create_dir_all(r.state_dir()).unwrap();
    fs::write(r.state_dir().join("plan-inputs.json"), v.to_string()).unwrap();
}

#[test]
fn converge_brings_a_node_holding_the_vips_to_master() {
    let r = TestRoot::new("conv-master");
    inputs_with_vip(&r);
    // Recorded BACKUP, but keepalived holds the VIPs: the hook died before finishing.
    assert_eq!(r.notify(&["GROUP", "muros_ha", "BACKUP", "100"]).status.code(), Some(0));
    let sys = RecordingSystem::new();
    sys.set_addresses(vec![("br-lan".into(), "192.0.2.1/24".into())]);
    let out = converge_with(&Paths::new(&r.dir), &sys).unwrap();
    let Outcome::Applied(rec) = out else { panic!("not applied: {out:?}") };
    assert_eq!(rec.to.as_str(), "MASTER");
    assert!(rec.reason.starts_with("converge: VIPs present: 192.0.2.1/24"), "{}", rec.reason);
    let log = sys.log();
    let up = log.iter().position(|l| l.contains("network.interface.wan up")).unwrap();
    let commit = log.iter().position(|l| l.ends_with(" -c")).unwrap();
    assert!(commit < up, "{log:#?}");
    assert!(log.iter().any(|l| l.contains("dnsmasq start")));
    assert!(log.last().unwrap().starts_with("ubus send muros_ha.transition"), "{log:#?}");
    assert_eq!(r.current()["state"], "MASTER");
    assert_eq!(r.current()["from"], "BACKUP");
}

#[test]
fn converge_takes_a_node_without_vips_out_of_master() {
    let r = TestRoot::new("conv-backup");
    inputs_with_vip(&r);
    assert_eq!(r.notify(&["GROUP", "muros_ha", "MASTER", "150"]).status.code(), Some(0));
    let sys = RecordingSystem::new();
    sys.set_addresses(vec![("br-lan".into(), "192.0.2.2/24".into())]);
    let out = converge_with(&Paths::new(&r.dir), &sys).unwrap();
    let Outcome::Applied(rec) = out else { panic!("not applied: {out:?}") };
    assert_eq!(rec.to.as_str(), "BACKUP");
    let log = sys.log();
    let flush = log.iter().position(|l| l.ends_with("-f internal")).unwrap();
    let down = log.iter().position(|l| l.contains("network.interface.wan down")).unwrap();
    assert!(flush < down, "{log:#?}");
    assert_eq!(r.history().len(), 2);
}
