//! The real `muros-ha notify` binary: ordering, supersede, lock hygiene, bounded
//! history, argument strictness. No root needed (conntrackd is absent here, so its
//! actions fail and are recorded; the behaviour under test does not depend on it).

mod failover_support;

use failover_support::*;
use muros_ha::failover::NotifyArgs;
use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn a_newer_notify_supersedes_a_queued_older_one_and_transitions_never_overlap() {
    let r = TestRoot::new("supersede");
    r.set_inputs(true, None, &["slow"]);
    // Long enough for B and C to queue even on a loaded machine.
    r.add_service("slow", "sleep 1.5");

    // A: MASTER, holds the transition lock while `slow start` sleeps.
    let a = r.notify_cmd(&["GROUP", "muros_ha", "MASTER", "150"], &default_path()).spawn().unwrap();
    assert!(wait_until(Duration::from_secs(5), || r.init_lines().iter().any(|l| l.starts_with("slow start begin"))));
    // B: BACKUP, queues behind A.
    let b = r.notify_cmd(&["GROUP", "muros_ha", "BACKUP", "100"], &default_path()).spawn().unwrap();
    assert!(wait_until(Duration::from_secs(5), || r.desired_seq() == 2), "B never recorded its wish");
    // C: MASTER again, newer than B.
    let c = r.notify_cmd(&["GROUP", "muros_ha", "MASTER", "150"], &default_path()).spawn().unwrap();

    let (a, b, c) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap(), c.wait_with_output().unwrap());
    for o in [&a, &b, &c] {
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let b_err = String::from_utf8_lossy(&b.stderr);
    assert!(b_err.contains("BACKUP (seq 2) superseded by MASTER (seq 3)"), "{b_err}");

    let h = r.history();
    assert_eq!(h.iter().map(|x| x["seq"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(h[1]["from"], "MASTER");
    assert_eq!(r.current()["state"], "MASTER");
    assert_eq!(r.current()["seq"], 3);

    // Never a stop (B did nothing), and each start ended before the next began.
    let lines = r.init_lines();
    assert!(!lines.iter().any(|l| l.contains("stop")), "{lines:#?}");
    let starts: Vec<&String> = lines.iter().filter(|l| l.starts_with("slow start")).collect();
    assert_eq!(starts.len(), 4, "{lines:#?}");
    for pair in starts.chunks(2) {
        assert!(pair[0].starts_with("slow start begin") && pair[1] == "slow start end", "{lines:#?}");
    }
}

#[test]
fn the_lock_fd_is_not_inherited_by_a_daemon_started_from_the_hook() {
    let r = TestRoot::new("cloexec");
    r.set_inputs(true, None, &["daemon"]);
    let pidfile = r.dir.join("daemon.pid");
    let fdlist = r.dir.join("script-fds");
    // The init script lists its own fds, then leaves a daemon behind, as dnsmasq does.
    r.add_service(
        "daemon",
        &format!("ls -l /proc/$$/fd > '{}'; sleep 30 & echo $! > '{}'", fdlist.display(), pidfile.display()),
    );
    let t0 = Instant::now();
    let o = r.notify(&["GROUP", "muros_ha", "MASTER", "150"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(t0.elapsed() < Duration::from_secs(5), "the hook waited for the daemon: {:?}", t0.elapsed());
    let pid: u32 = fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let daemon_fds = open_files(pid);
    let script_fds = fs::read_to_string(&fdlist).unwrap();
    let result = std::panic::catch_unwind(|| {
        assert!(!daemon_fds.is_empty(), "cannot read /proc/{pid}/fd");
        assert!(!daemon_fds.iter().any(|f| f.contains("transition.lock")), "{daemon_fds:#?}");
        assert!(!daemon_fds.iter().any(|f| f.contains("muros-ha")), "{daemon_fds:#?}");
        assert!(!script_fds.contains("transition.lock"), "{script_fds}");
        // And the proof that matters: the next transition is not deadlocked by the daemon.
        let t1 = Instant::now();
        let o2 = r.notify(&["GROUP", "muros_ha", "BACKUP", "100"]);
        assert_eq!(o2.status.code(), Some(0));
        assert!(t1.elapsed() < Duration::from_secs(5));
        assert_eq!(r.current()["state"], "BACKUP");
    });
    kill(pid);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn repeating_a_transition_is_harmless() {
    let r = TestRoot::new("repeat");
    r.set_inputs(true, None, &["dnsmasq"]);
    r.add_service("dnsmasq", "");
    for _ in 0..2 {
        let o = r.notify(&["GROUP", "muros_ha", "MASTER", "150"]);
        assert_eq!(o.status.code(), Some(0));
    }
    let h = r.history();
    assert_eq!(h.len(), 2);
    for rec in &h {
        let check = rec["actions"].as_array().unwrap().iter().find(|a| a["action"].as_str().unwrap().contains("dnsmasq running")).unwrap();
        assert_eq!(check["ok"], true, "{rec}");
    }
    assert_eq!(h[1]["from"], "MASTER");
    assert!(r.dir.join("running-dnsmasq").exists());
}

#[test]
fn services_are_checked_and_a_failure_is_recorded_not_hidden() {
    let r = TestRoot::new("check");
    r.set_inputs(true, None, &["good", "broken"]);
    r.add_service("good", "");
    r.add_service("broken", "exit 1"); // exits before setting its running flag
    assert_eq!(r.notify(&["GROUP", "muros_ha", "MASTER", "150"]).status.code(), Some(0));
    let rec = r.history().pop().unwrap();
    assert_eq!(rec["ok"], false);
    let find = |needle: &str| -> serde_json::Value {
        rec["actions"].as_array().unwrap().iter().find(|a| a["action"].as_str().unwrap().contains(needle)).unwrap().clone()
    };
    assert_eq!(find("good running")["ok"], true);
    assert_eq!(find("broken start")["ok"], false);
    assert_eq!(find("broken running")["ok"], false);
    assert_eq!(find("broken running")["detail"], "not running");
    assert_eq!(r.current()["ok"], false);

    // BACKUP: both stop, both verified stopped.
    assert_eq!(r.notify(&["GROUP", "muros_ha", "BACKUP", "100"]).status.code(), Some(0));
    let rec = r.history().pop().unwrap();
    for svc in ["good", "broken"] {
        let c = rec["actions"].as_array().unwrap().iter().find(|a| a["action"].as_str().unwrap().contains(&format!("{svc} running"))).unwrap().clone();
        assert_eq!(c["ok"], true, "{rec}");
    }
}

#[test]
fn history_stays_bounded_across_many_notifies() {
    let r = TestRoot::new("bounded");
    r.set_inputs(false, None, &[]); // disabled: the plan only announces, so this is quick
    for i in 0..70 {
        let st = if i % 2 == 0 { "MASTER" } else { "BACKUP" };
        assert_eq!(r.notify(&["GROUP", "muros_ha", st, "150"]).status.code(), Some(0));
    }
    let h = r.history();
    assert_eq!(h.len(), 64);
    assert_eq!(h.last().unwrap()["seq"], 70);
    assert_eq!(h.first().unwrap()["seq"], 7);
    // no temp files left behind in the state dir
    let names: Vec<String> =
        fs::read_dir(r.state_dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.contains(".tmp.")), "{names:?}");
}

/// xorshift64*: deterministic garbage, no extra crate.
struct Garbage(u64);
impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn arg(&mut self) -> String {
        const POOL: &[&str] = &[
            "GROUP", "INSTANCE", "MASTER", "BACKUP", "FAULT", "STOP", "master", "150", "256", "-1", "", " ", "muros_ha",
            "--root", "--", "-x", "é", "0", "999999999999999999999", "GROUP\n", "MASTER\0",
        ];
        match self.next() % 3 {
            0 => POOL[(self.next() % POOL.len() as u64) as usize].to_string(),
            1 => (0..self.next() % 12).map(|_| char::from(b' ' + (self.next() % 95) as u8)).collect(),
            _ => (0..self.next() % 6).filter_map(|_| char::from_u32((self.next() % 0x3000) as u32)).collect(),
        }
    }
    fn args(&mut self) -> Vec<String> {
        (0..self.next() % 7).map(|_| self.arg()).collect()
    }
}

#[test]
fn garbage_notify_arguments_never_panic_the_parser() {
    let mut g = Garbage(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let a = g.args();
        if let Ok(n) = NotifyArgs::parse(&a) {
            accepted += 1;
            // whatever got through is exactly what keepalived sends
            assert!(a.len() == 3 || a.len() == 4);
            assert!(matches!(a[0].as_str(), "GROUP" | "INSTANCE"));
            assert_eq!(n.state.as_str(), a[2]);
        }
    }
    assert!(accepted < 20_000);
}

#[test]
fn garbage_notify_arguments_exit_2_and_touch_nothing() {
    let r = TestRoot::new("garbage");
    let mut g = Garbage(0xD1B5_4A32_D192_ED03);
    let mut tried = 0;
    while tried < 25 {
        let a = g.args();
        // argv cannot carry NUL bytes
        if a.iter().any(|s| s.contains('\0')) || NotifyArgs::parse(&a).is_ok() {
            continue;
        }
        tried += 1;
        let o = std::process::Command::new(muros_bin())
            .arg("notify")
            .arg("--root")
            .arg(&r.dir)
            .args(&a)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{a:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(!o.stderr.is_empty(), "{a:?}: no message");
        assert!(!r.dir.join("var").exists(), "{a:?} left state behind");
    }
    assert!(r.init_lines().is_empty());
}

#[test]
fn plan_command_prints_numbered_actions_and_runs_nothing() {
    let r = TestRoot::new("plancmd");
    r.set_inputs(true, Some("wan"), &["dnsmasq"]);
    r.add_service("dnsmasq", "");
    let o = std::process::Command::new(muros_bin()).args(["plan", "--root"]).arg(&r.dir).arg("backup").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    let conf = r.dir.join("etc/conntrackd/conntrackd.conf").display().to_string();
    assert!(lines[0].starts_with("1     ensure conntrackd"), "{out}");
    assert_eq!(lines[1], format!("2     conntrackd -C {conf} -f internal"));
    assert_eq!(lines[2], "3a    ubus call network.interface.wan down");
    assert!(lines[3].starts_with("3b    ") && lines[3].ends_with("/etc/init.d/dnsmasq stop"), "{out}");
    assert_eq!(lines[4], format!("4     conntrackd -C {conf} -t"));
    assert_eq!(lines[5], format!("5     conntrackd -C {conf} -n"));
    assert!(lines[7].contains("muros_ha.transition"), "{out}");
    assert!(r.init_lines().is_empty(), "plan ran something");
    assert!(!r.state_dir().join("history.jsonl").exists());

    let bad = std::process::Command::new(muros_bin()).args(["plan", "--root"]).arg(&r.dir).arg("sideways").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

fn copy_example_config(r: &TestRoot) {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/router-a/etc/config");
    fs::create_dir_all(r.dir.join("etc/config")).unwrap();
    for f in ["muros_ha", "network", "system"] {
        fs::copy(src.join(f), r.dir.join("etc/config").join(f)).unwrap();
    }
}

#[test]
fn the_plan_comes_from_the_uci_config() {
    let r = TestRoot::new("uciplan");
    copy_example_config(&r);
    let o = std::process::Command::new(muros_bin()).args(["plan", "--root"]).arg(&r.dir).arg("master").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "the example config should validate: {}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("2     link "), "{out}");
    // the WAN device from /etc/config/muros_ha, guarded while the commit runs beside it
    assert!(out.contains("3     set /sys/class/net/ha-wan/netdev_group to 28008"), "{out}");
    assert!(out.contains("4     ubus call network.interface.wan up"), "{out}");
    assert!(out.contains("5a1   wait for network.interface.wan status to say up"), "{out}");
    assert!(out.contains("5b    ip -4 route del default via 192.0.2.1 metric 4096 protocol static\n"), "{out}");
    for svc in ["dnsmasq", "odhcpd", "miniupnpd"] {
        assert!(out.contains(&format!("/etc/init.d/{svc} start")), "{svc} missing:\n{out}");
    }
    assert!(!r.state_dir().exists(), "plan wrote state");
}

#[test]
fn a_config_broken_mid_edit_still_fails_over_with_the_last_good_inputs() {
    let r = TestRoot::new("lastgood");
    copy_example_config(&r);
    for svc in ["dnsmasq", "odhcpd", "miniupnpd"] {
        r.add_service(svc, "");
    }
    assert_eq!(r.notify(&["GROUP", "muros_ha", "BACKUP", "100"]).status.code(), Some(0));
    let first = r.history().pop().unwrap();
    assert!(!first["reason"].as_str().unwrap().contains("config invalid"), "{first}");
    let cached: serde_json::Value =
        serde_json::from_slice(&fs::read(r.state_dir().join("plan-inputs.json")).unwrap()).unwrap();
    assert_eq!(cached["wan"], "wan");
    assert_eq!(cached["vips"].as_array().unwrap().len(), 2);

    // The operator is half way through an edit: an unknown option makes it invalid.
    let mut text = fs::read_to_string(r.dir.join("etc/config/muros_ha")).unwrap();
    text.push_str("\toption vird '12'\n");
    fs::write(r.dir.join("etc/config/muros_ha"), text).unwrap();
    assert_eq!(r.notify(&["GROUP", "muros_ha", "MASTER", "150"]).status.code(), Some(0));
    let rec = r.history().pop().unwrap();
    assert!(rec["reason"].as_str().unwrap().contains("used last good plan inputs"), "{rec}");
    for svc in ["dnsmasq", "odhcpd", "miniupnpd"] {
        assert!(r.dir.join(format!("running-{svc}")).exists(), "{svc} not started from the last good inputs");
    }
    assert!(rec["actions"].as_array().unwrap().iter().any(|a| a["action"] == "ubus call network.interface.wan up"));
}

#[test]
fn the_backup_reaches_the_internet_through_the_lan_vip_until_it_becomes_master() {
    let r = TestRoot::new("backuproute");
    copy_example_config(&r);
    for svc in ["dnsmasq", "odhcpd", "miniupnpd"] {
        r.add_service(svc, "");
    }
    let resolv = r.dir.join("tmp/resolv.conf");
    assert_eq!(r.notify(&["GROUP", "muros_ha", "BACKUP", "100"]).status.code(), Some(0));
    // The example's LAN VIP is 192.0.2.1 (its guest VIP comes second).
    assert_eq!(r.ip_lines(), ["-4 route replace default via 192.0.2.1 metric 4096 protocol static"]);
    let text = fs::read_to_string(&resolv).unwrap();
    assert!(text.ends_with("\nnameserver 192.0.2.1\n") && text.starts_with("# muros-ha"), "{text}");
    let rec = r.history().pop().unwrap();
    let names: Vec<&str> = rec["actions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    let at = |n: &str| names.iter().position(|a| a.contains(n)).unwrap_or_else(|| panic!("{n} not in {names:#?}"));
    assert!(at("network.interface.wan down") < at("route replace") && at("dnsmasq stop") < at("resolv.conf"), "{names:#?}");
    // No conntrackd or ubusd in this root: only our two actions must have succeeded.
    let ours = rec["actions"].as_array().unwrap().iter().filter(|a| a["action"].as_str().unwrap().contains("192.0.2.1"));
    assert_eq!(ours.clone().count(), 2, "{rec}");
    assert!(ours.into_iter().all(|a| a["ok"] == true), "{rec}");

    assert_eq!(r.notify(&["GROUP", "muros_ha", "MASTER", "150"]).status.code(), Some(0));
    assert_eq!(r.ip_lines()[1], "-4 route del default via 192.0.2.1 metric 4096 protocol static");
    assert_eq!(fs::read_link(&resolv).unwrap(), std::path::Path::new("resolv.conf.d/resolv.conf.auto"));
    let rec = r.history().pop().unwrap();
    let names: Vec<&str> = rec["actions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    let at = |n: &str| names.iter().position(|a| a.contains(n)).unwrap_or_else(|| panic!("{n} not in {names:#?}"));
    // the resolver before the WAN and dnsmasq; the route (metric 4096) beside the WAN
    assert!(at("resolv.conf") < at("network.interface.wan up") && at("resolv.conf") < at("dnsmasq start"), "{names:#?}");
    assert!(at("network.interface.wan up") < at("route del"), "{names:#?}");

    // Turned off: the hook leaves routes and the resolver alone.
    let text = fs::read_to_string(r.dir.join("etc/config/muros_ha")).unwrap();
    fs::write(r.dir.join("etc/config/muros_ha"), text.replacen("config global 'global'\n", "config global 'global'\n\toption backup_route '0'\n", 1)).unwrap();
    assert_eq!(r.notify(&["GROUP", "muros_ha", "BACKUP", "100"]).status.code(), Some(0));
    assert_eq!(r.ip_lines().len(), 2);
    assert!(fs::symlink_metadata(&resolv).unwrap().file_type().is_symlink());
}
