//! The daemon on a real ubusd, driven with the real `ubus` CLI.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod fs_support;
use fs_support::copy_tree;


fn tools() -> Option<PathBuf> {
    let found = fs_support::openwrt_tools();
    if found.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "openwrt-tools not found: CI must have shared/ beside the checkout");
        eprintln!("SKIP: openwrt-tools (ubusd, ubus) not found beside the checkout");
    }
    found
}

/// Kills (by PID) and reaps what it owns, removes the directory, even when a test fails.
struct Lab {
    dir: PathBuf,
    tools: PathBuf,
    ubusd: Option<Child>,
    daemon: Option<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in [self.daemon.take(), self.ubusd.take()].into_iter().flatten() {
            let mut c = c;
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}


impl Lab {
    fn new(tag: &str) -> Option<Lab> {
        let tools = tools()?;
        let dir = std::env::temp_dir().join(format!("muros-daemon-{}-{}", tag, std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/router-a"), &dir.join("root"));
        fs::create_dir_all(dir.join("root/var/run/ubus")).unwrap();
        let mut lab = Lab { dir, tools, ubusd: None, daemon: None };
        lab.start_ubusd();
        lab.daemon = Some(
            Command::new(fs_support::muros_bin())
                .args(["daemon", "--root", lab.root().to_str().unwrap(), "--no-verify", "--no-converge", "--hook", "/usr/sbin/muros-ha"])
                .env("MUROS_HA_LOG", "stderr")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        assert!(lab.wait_for_object(Duration::from_secs(5)), "daemon did not register muros_ha");
        Some(lab)
    }
    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }
    fn sock(&self) -> PathBuf {
        self.root().join("var/run/ubus/ubus.sock")
    }
    fn start_ubusd(&mut self) {
        let child = Command::new(self.tools.join("bin/ubusd")).arg("-s").arg(self.sock()).stdin(Stdio::null()).spawn().unwrap();
        self.ubusd = Some(child);
        let t0 = Instant::now();
        while !self.sock().exists() && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    fn ubus(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(self.tools.join("bin/ubus")).arg("-s").arg(self.sock()).args(["-t", "5"]).args(args).output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
    fn call(&self, method: &str, arg: &str) -> serde_json::Value {
        let (code, out, err) = self.ubus(&["call", "muros_ha", method, arg]);
        assert_eq!(code, 0, "{} {}: {}", method, arg, err);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{}: {} in {:?}", method, e, out))
    }
    fn wait_for_object(&self, limit: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if self.ubus(&["list", "muros_ha"]).0 == 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

#[test]
fn every_method_is_listed_with_its_signature() {
    let Some(lab) = Lab::new("list") else { return };
    let (code, out, _) = lab.ubus(&["-v", "list", "muros_ha"]);
    assert_eq!(code, 0);
    for line in [
        "\"status\":{}",
        "\"validate\":{}",
        "\"apply\":{\"dry_run\":\"Boolean\"}",
        "\"history\":{\"limit\":\"Integer\"}",
        "\"maintenance\":{\"enable\":\"Boolean\"}",
    ] {
        assert!(out.contains(line), "missing {} in\n{}", line, out);
    }
    assert_eq!(out.lines().filter(|l| l.trim_start().starts_with('"')).count(), muros_ha::daemon::METHODS.len());
}

#[test]
fn status_reports_the_node_and_never_the_password() {
    let Some(lab) = Lab::new("status") else { return };
    let (code, raw, _) = lab.ubus(&["call", "muros_ha", "status"]);
    assert_eq!(code, 0);
    assert!(!raw.contains("Lq4vN8ct"), "the secret leaked: {}", raw);
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["version"], muros_ha::VERSION);
    assert_eq!(v["config_valid"], true);
    assert_eq!(v["role"], "master");
    assert_eq!(v["priority"], 150);
    assert_eq!(v["effective_priority"], 150);
    assert_eq!(v["state"], "UNKNOWN");
    assert_eq!(v["instances"][0]["name"], "lan");
    assert_eq!(v["instances"][0]["device"], "br-lan");
    assert_eq!(v["instances"][1]["vrid"], 11);
    assert_eq!(v["wan"]["macaddr"], "02:6d:75:72:6f:73");
    assert_eq!(v["services"].as_array().map(|a| a.len()), Some(3));
    assert_eq!(v["sync"]["device"], "eth2");
    // LuCI adds ubus_rpc_session to every call: ignored, not refused.
    let (code, _, err) = lab.ubus(&["call", "muros_ha", "status", "{\"ubus_rpc_session\":\"0123456789abcdef0123456789abcdef\"}"]);
    assert_eq!(code, 0, "{}", err);
}

#[test]
fn apply_installs_the_files_and_a_broken_config_changes_nothing() {
    let Some(lab) = Lab::new("apply") else { return };
    let v = lab.call("apply", "{}");
    assert_eq!(v["valid"], true);
    let conf = lab.root().join("etc/keepalived/keepalived.conf");
    assert!(v["changed"].as_array().unwrap().iter().any(|p| p.as_str() == conf.to_str()), "{}", v);
    assert!(fs::read_to_string(&conf).unwrap().contains("virtual_router_id 10"));
    // A second apply finds nothing to do.
    let v = lab.call("apply", "{}");
    assert_eq!(v["changed"].as_array().map(|a| a.len()), Some(0), "{}", v);

    let before = fs::read(&conf).unwrap();
    let cfg = lab.root().join("etc/config/muros_ha");
    let text = fs::read_to_string(&cfg).unwrap();
    fs::write(&cfg, text.replace("option vrid '10'", "option vrid '300'")).unwrap();
    let v = lab.call("apply", "{}");
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["location"], "lan.vrid");
    assert_eq!(fs::read(&conf).unwrap(), before);
    let v = lab.call("validate", "{}");
    assert_eq!(v["valid"], false);
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("out of range"));
}

#[test]
fn wrong_argument_types_are_refused_with_a_message() {
    let Some(lab) = Lab::new("args") else { return };
    for (method, arg) in [("maintenance", "{\"enable\":\"yes\"}"), ("maintenance", "{}"), ("history", "{\"limit\":\"ten\"}"), ("apply", "{\"dry_run\":3}")] {
        let (code, out, err) = lab.ubus(&["call", "muros_ha", method, arg]);
        assert_ne!(code, 0, "{} {} accepted", method, arg);
        assert!(err.contains("Invalid argument"), "{} {}: {}", method, arg, err);
        assert!(out.contains("\"error\""), "{} {}: no message in {:?}", method, arg, out);
    }
    let (code, _, err) = lab.ubus(&["call", "muros_ha", "no_such_method"]);
    assert_ne!(code, 0);
    assert!(err.contains("Method not found"), "{}", err);
    // Still alive and answering.
    assert_eq!(lab.call("validate", "{}")["valid"], true);
}

#[test]
fn maintenance_is_stored_in_uci_and_lowers_the_priority() {
    let Some(lab) = Lab::new("maint") else { return };
    let v = lab.call("maintenance", "{\"enable\":true}");
    assert_eq!(v["maintenance"], true);
    assert_eq!(v["effective_priority"], 1);
    let cfg = fs::read_to_string(lab.root().join("etc/config/muros_ha")).unwrap();
    assert!(cfg.contains("option maintenance '1'"), "{}", cfg);
    assert!(cfg.contains("# muros-ha example: router A"), "comments must survive");
    let ka = fs::read_to_string(lab.root().join("etc/keepalived/keepalived.conf")).unwrap();
    assert!(ka.contains("priority 1\n"), "{}", ka);
    let v = lab.call("maintenance", "{\"enable\":false}");
    assert_eq!(v["effective_priority"], 150);
    assert_eq!(lab.call("status", "{}")["maintenance"], false);
}

#[test]
fn a_transition_is_announced_and_recorded_in_history() {
    let Some(lab) = Lab::new("event") else { return };
    let listener = Command::new(lab.tools.join("bin/ubus"))
        .arg("-s")
        .arg(lab.sock())
        // -t: listen ends by itself, so its (block-buffered) output is flushed.
        .args(["-t", "3", "listen", "muros_ha.transition"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // keepalived would run this; init scripts are absent, so the services fail — and
    // that must be recorded, not hidden.
    let out = Command::new(fs_support::muros_bin())
        .args(["notify", "--root", lab.root().to_str().unwrap(), "GROUP", "muros_ha", "MASTER", "150"])
        .env("MUROS_HA_LOG", "stderr")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = listener.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("muros_ha.transition") && text.contains("MASTER"), "no event: {:?}", text);

    let h = lab.call("history", "{\"limit\":5}");
    let t = &h["transitions"][0];
    assert_eq!(t["to"], "MASTER");
    assert!(t["actions"].as_array().unwrap().len() >= 3, "{}", t);
    assert!(t["actions"].as_array().unwrap().iter().all(|a| a.get("ms").is_some()));
    let s = lab.call("status", "{}");
    assert_eq!(s["state"], "MASTER");
    assert_eq!(s["last_transition"]["to"], "MASTER");
}

#[test]
fn the_object_is_back_within_two_seconds_after_ubusd_restarts() {
    let Some(mut lab) = Lab::new("restart") else { return };
    lab.call("maintenance", "{\"enable\":true}");
    if let Some(mut u) = lab.ubusd.take() {
        let _ = u.kill();
        let _ = u.wait();
    }
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    lab.start_ubusd();
    assert!(lab.wait_for_object(Duration::from_secs(2)), "not back within 2 s");
    eprintln!("re-registered {} ms after ubusd restart", t0.elapsed().as_millis());
    // State survived: maintenance is still on.
    assert_eq!(lab.call("status", "{}")["maintenance"], true);
}

#[test]
fn sigterm_ends_the_daemon_cleanly() {
    let Some(mut lab) = Lab::new("term") else { return };
    let mut d = lab.daemon.take().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(d.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(exit_within_5s(&mut d, "SIGTERM").code(), Some(0));
}

#[test]
fn sighup_applies_the_config_and_sigint_ends_the_daemon() {
    let Some(mut lab) = Lab::new("hup") else { return };
    let conf = lab.root().join("etc/keepalived/keepalived.conf");
    assert!(!conf.exists(), "--no-converge: nothing rendered before the signal");
    let pid = nix::unistd::Pid::from_raw(lab.daemon.as_ref().unwrap().id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let t0 = Instant::now();
    while !conf.exists() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(fs::read_to_string(&conf).is_ok_and(|t| t.contains("virtual_router_id 10")), "SIGHUP did not apply the config");
    // Still serving after the signal.
    assert_eq!(lab.call("status", "{}")["config_valid"], true);

    let mut d = lab.daemon.take().unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    assert_eq!(exit_within_5s(&mut d, "SIGINT").code(), Some(0), "SIGINT should end the loop cleanly, not kill the process");
}

/// The daemon's exit status once it ends, within 5 s of `signal`.
fn exit_within_5s(d: &mut Child, signal: &str) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = d.try_wait().unwrap() {
            return s;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "daemon ignored {signal}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// procd's side of a config change, for one run of the init script's `reload_service`:
/// the real files/muros-ha.init, sourced under stand-ins for what /etc/rc.common and
/// procd.sh give it. `procd_send_signal` signals the lab's daemon, `start` only records
/// that it ran (on a router it renders and (re)starts the instance), and
/// `config_get_bool` reads the lab's uci file with the real uci.
fn run_init_reload(lab: &Lab, daemon_pid: u32, record: &Path) {
    let harness = r#"
config_load() { :; }
config_get_bool() {
	case "$(uci -c "$LAB_CONFDIR" -q get "muros_ha.$2.$3")" in
	1 | on | true | yes | enabled) eval "$1=1" ;;
	'') eval "$1=$4" ;;
	*) eval "$1=0" ;;
	esac
}
procd_running() { kill -0 "$LAB_DAEMON_PID" 2>/dev/null; }
procd_send_signal() { echo "signal $3" >>"$LAB_RECORD"; kill -s "$3" "$LAB_DAEMON_PID"; }
start() { echo start >>"$LAB_RECORD"; }
. "$LAB_INIT"
reload_service
"#;
    let path = format!("{}:{}", lab.tools.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("sh")
        .args(["-c", harness])
        .env("PATH", path)
        .env("LD_LIBRARY_PATH", lab.tools.join("lib"))
        .env("LAB_CONFDIR", lab.root().join("etc/config"))
        .env("LAB_DAEMON_PID", daemon_pid.to_string())
        .env("LAB_RECORD", record)
        .env("LAB_INIT", Path::new(env!("CARGO_MANIFEST_DIR")).join("files/muros-ha.init"))
        .output()
        .unwrap();
    assert!(out.status.success(), "reload_service failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn applies(lab: &Lab) -> u64 {
    lab.call("status", "{}")["applies"]["count"].as_u64().expect("status has applies.count")
}

/// One committed change (what LuCI's Save & Apply does through rpcd, whose commit fires
/// procd's reload trigger) is applied exactly once: by the daemon, on the init
/// script's SIGHUP; the script renders nothing itself while the daemon runs.
#[test]
fn one_config_change_through_the_reload_trigger_is_applied_exactly_once() {
    let Some(lab) = Lab::new("once") else { return };
    let uci = lab.tools.join("bin/uci");
    if !uci.is_file() {
        eprintln!("skip: no uci in the OpenWrt tools");
        return;
    }
    let pid = lab.daemon.as_ref().unwrap().id();
    let record = lab.dir.join("reload-record");
    assert_eq!(applies(&lab), 0, "--no-converge: no apply before the change");
    assert!(lab.call("status", "{}")["applies"]["last"].is_null());

    // The change, committed by the real uci.
    let confdir = lab.root().join("etc/config");
    let set = Command::new(&uci).env("LD_LIBRARY_PATH", lab.tools.join("lib")).arg("-c").arg(&confdir).args(["set", "muros_ha.lan.vrid=12"]).status().unwrap();
    let commit = Command::new(&uci).env("LD_LIBRARY_PATH", lab.tools.join("lib")).arg("-c").arg(&confdir).args(["commit", "muros_ha"]).status().unwrap();
    assert!(set.success() && commit.success());

    run_init_reload(&lab, pid, &record);
    assert_eq!(fs::read_to_string(&record).unwrap(), "signal HUP\n", "a running daemon gets SIGHUP and no second render (start)");

    let t0 = Instant::now();
    while applies(&lab) == 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Anything else that applied on its own (a file watch, a second signal) would show
    // up within this second.
    std::thread::sleep(Duration::from_secs(1));
    let st = lab.call("status", "{}");
    assert_eq!(st["applies"]["count"], 1, "{}", st["applies"]);
    assert_eq!(st["applies"]["last"]["valid"], true, "{}", st["applies"]);
    assert_eq!(st["applies"]["last"]["seq"], 1);
    let conf = lab.root().join("etc/keepalived/keepalived.conf");
    assert!(st["applies"]["last"]["changed"].as_array().unwrap().iter().any(|p| p.as_str() == conf.to_str()), "{}", st["applies"]);
    assert!(fs::read_to_string(&conf).unwrap().contains("virtual_router_id 12"));

    // A `dry_run` apply from a script is not counted; a real one is.
    lab.call("apply", r#"{"dry_run": true}"#);
    assert_eq!(applies(&lab), 1);
    lab.call("apply", "{}");
    assert_eq!(applies(&lab), 2);

    // Disabled: the script leaves it to `start` (procd then stops the daemon), no SIGHUP.
    fs::remove_file(&record).unwrap();
    let off = Command::new(&uci).env("LD_LIBRARY_PATH", lab.tools.join("lib")).arg("-c").arg(&confdir).args(["set", "muros_ha.global.enabled=0"]).status().unwrap();
    let commit = Command::new(&uci).env("LD_LIBRARY_PATH", lab.tools.join("lib")).arg("-c").arg(&confdir).args(["commit", "muros_ha"]).status().unwrap();
    assert!(off.success() && commit.success());
    run_init_reload(&lab, pid, &record);
    assert_eq!(fs::read_to_string(&record).unwrap(), "start\n");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(applies(&lab), 2, "no apply for a disabled HA");
}

/// Issue 18 §3: `/etc/hotplug.d/muros-ha/` scripts get every transition, in order, with
/// ACTION and the details in the environment; one that sleeps 30 s holds up no
/// failover (the hooks all finish, the records are all there) and is killed at its
/// bound; what each script did is in `history.events`.
#[test]
fn hotplug_scripts_see_every_transition_in_order_and_a_slow_one_delays_no_failover() {
    let Some(lab) = Lab::new("hotplug") else { return };
    let dir = lab.root().join("etc/hotplug.d/muros-ha");
    fs::create_dir_all(&dir).unwrap();
    let record = lab.dir.join("hotplug.log");
    fs::write(dir.join("10-record"), format!("echo \"$ACTION $FROM>$TO seq=$SEQ\" >> '{}'\n", record.display())).unwrap();
    fs::write(dir.join("20-slow"), "[ \"$ACTION\" = master ] && sleep 30\nexit 0\n").unwrap();
    let states = ["MASTER", "BACKUP", "MASTER", "FAULT", "BACKUP"];
    let t0 = Instant::now();
    for s in states {
        let out = Command::new(fs_support::muros_bin())
            .args(["notify", "--root", lab.root().to_str().unwrap(), "GROUP", "muros_ha", s, "150"])
            .env("MUROS_HA_LOG", "stderr")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        // one event at a time, as keepalived would send them
        std::thread::sleep(Duration::from_millis(300));
    }
    let hooks_done = t0.elapsed();
    // The worker is a named thread while the slow script sleeps: names are set through
    // our own pthread_setname_np on musl (src/lib.rs), std's on glibc; both must work.
    let pid = lab.daemon.as_ref().unwrap().id();
    let comms: Vec<String> = fs::read_dir(format!("/proc/{}/task", pid))
        .unwrap()
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .collect();
    assert!(comms.iter().any(|c| c == "hotplug"), "daemon threads: {comms:?}");
    let h = lab.call("history", "{\"limit\":10}");
    let recorded: Vec<&str> = h["transitions"].as_array().unwrap().iter().map(|t| t["to"].as_str().unwrap()).collect();
    assert_eq!(recorded, states, "every transition recorded while the slow script sleeps");
    // Two master events × a 30 s sleep killed at 10 s: the scripts finish about 20 s later.
    let want = "master >MASTER seq=1\nbackup MASTER>BACKUP seq=2\nmaster BACKUP>MASTER seq=3\nfault MASTER>FAULT seq=4\nbackup FAULT>BACKUP seq=5\n";
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = String::new();
    while Instant::now() < deadline {
        got = fs::read_to_string(&record).unwrap_or_default();
        if got.lines().count() >= states.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(got, want, "the scripts saw every transition, in order");
    eprintln!("hooks done after {:?}; the scripts caught up after {:?}", hooks_done, t0.elapsed());
    let events = lab.call("history", "{\"limit\":64}")["events"].clone();
    let lines: Vec<String> = events.as_array().unwrap().iter().filter(|e| e["kind"] == "hotplug").map(|e| e["message"].as_str().unwrap_or_default().to_string()).collect();
    assert!(lines.iter().any(|l| l.starts_with("master: 10-record ok") && l.contains("20-slow killed after 10 s")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("backup: 10-record ok") && l.contains("20-slow ok")), "{lines:#?}");
}
