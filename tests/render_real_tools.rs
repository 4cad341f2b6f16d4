//! The rendered files against the real daemons: keepalived 2.2.x, nft, conntrackd 1.4.x.
//! Each test runs inside a network namespace of its own, holding veths named like the
//! router's devices. Needs root: fails when `CI=true` and not root, skips otherwise.

mod render_support;

use muros_ha::model::{Config, SyncMode};
use muros_ha::paths::Paths;
use muros_ha::render::{conntrackd, firewall, keepalived, RenderContext};
use muros_ha::model::Role;
use render_support::{base, can_run, devices_named_in_keepalived_conf, expected_file, sync_link, Daemon, Netns, TempDir, CASES, HOOK};
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `keepalived -t -f FILE` inside `ns`: exit code and everything it printed. keepalived
/// forks for the check; `output()` waits until every copy of the pipes is closed.
fn keepalived_check(ns: &Netns, file: &Path) -> (i32, String) {
    let out = ns.exec("keepalived").args(["-t", "-f"]).arg(file).output().expect("spawn keepalived");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn netns_with_devices(devices: &[String]) -> Netns {
    let mut ns = Netns::new();
    for d in devices {
        ns.add_device(d);
    }
    ns
}

#[test]
fn every_golden_keepalived_conf_passes_keepalived_t_silently() {
    if !can_run("keepalived -t", &["ip", "keepalived"]) {
        return;
    }
    for (name, _, _) in CASES {
        let file = expected_file(name, "/etc/keepalived/keepalived.conf");
        let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let devices = devices_named_in_keepalived_conf(&text);
        assert!(!devices.is_empty(), "case {name}: no device found in {}", file.display());
        let ns = netns_with_devices(&devices);
        let (code, out) = keepalived_check(&ns, &file);
        assert_eq!(code, 0, "case {name}: keepalived -t exit {code}:\n{out}");
        // keepalived exits 0 on some problems it only warns about; a clean file says nothing.
        assert_eq!(out.trim(), "", "case {name}: keepalived -t printed:\n{out}");
    }
}

#[test]
fn keepalived_t_fails_when_a_named_interface_is_missing() {
    // Proves the check above can fail: a golden file without its LAN device around.
    if !can_run("keepalived -t negative", &["ip", "keepalived"]) {
        return;
    }
    let file = expected_file("single-lan", "/etc/keepalived/keepalived.conf");
    let text = fs::read_to_string(&file).unwrap();
    let devices: Vec<String> = devices_named_in_keepalived_conf(&text).into_iter().filter(|d| d != "br-lan").collect();
    let ns = netns_with_devices(&devices);
    let (code, out) = keepalived_check(&ns, &file);
    assert_ne!(code, 0, "keepalived accepted a config naming a missing interface:\n{out}");
    assert!(out.contains("br-lan"), "{out}");
}

#[test]
fn keepalived_rejects_the_one_member_sync_group_we_avoid() {
    // Pins the 2.2.7 quirk the renderer works around: if a later keepalived accepts
    // a one-member group, this fails and the workaround can be reconsidered.
    if !can_run("keepalived one-member group", &["ip", "keepalived"]) {
        return;
    }
    let cfg = base(Role::Master);
    let tmp = TempDir::new();
    let paths = Paths::new("/");
    let text = keepalived::render(&cfg, &RenderContext { paths: &paths, hook_binary: HOOK });
    let notify_line = format!("    notify \"{HOOK} notify\"\n");
    assert!(text.contains(&notify_line), "{text}");
    let ns = netns_with_devices(&devices_named_in_keepalived_conf(&text));

    // As rendered: clean.
    let as_rendered = tmp.0.join("as-rendered.conf");
    fs::write(&as_rendered, &text).unwrap();
    let (code, out) = keepalived_check(&ns, &as_rendered);
    assert_eq!((code, out.trim()), (0, ""), "the rendered single-VIP file is not clean");

    // The same VIP wrapped in a one-member group: refused.
    let grouped = text.replace(&notify_line, "")
        + "\nvrrp_sync_group muros_ha {\n    group {\n        lan\n    }\n    notify \"/usr/sbin/muros-ha notify\"\n}\n";
    let file = tmp.0.join("one-member.conf");
    fs::write(&file, grouped).unwrap();
    let (code, out) = keepalived_check(&ns, &file);
    assert_ne!(code, 0, "keepalived now accepts a one-member sync group:\n{out}");
    assert!(out.contains("only 1 virtual router"), "{out}");
}

#[test]
fn every_golden_firewall_snippet_loads_into_an_fw4_like_input_chain() {
    if !can_run("nft -c", &["ip", "nft"]) {
        return;
    }
    let ns = Netns::new();
    let tmp = TempDir::new();
    for (name, _, _) in CASES {
        let snippet = expected_file(name, muros_ha::paths::FW4_SNIPPET);
        assert!(snippet.is_file(), "{} missing", snippet.display());
        let ruleset = tmp.0.join(format!("{name}.nft"));
        fs::write(&ruleset, firewall::check_ruleset(&snippet)).unwrap();
        let out = ns.exec("nft").args(["-c", "-f"]).arg(&ruleset).output().expect("spawn nft");
        assert!(
            out.status.success(),
            "case {name}: nft -c rejected the snippet:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The static WAN's srcnat snippet loads into an fw4-like nat chain (and only the
/// static-WAN golden has one).
#[test]
fn the_static_wan_srcnat_snippet_loads_into_an_fw4_like_nat_chain() {
    if !can_run("nft -c srcnat", &["ip", "nft"]) {
        return;
    }
    let ns = Netns::new();
    let tmp = TempDir::new();
    let mut seen = Vec::new();
    for (name, _, _) in CASES {
        let snippet = expected_file(name, muros_ha::paths::FW4_SRCNAT_SNIPPET);
        if !snippet.is_file() {
            continue;
        }
        seen.push(*name);
        let ruleset = tmp.0.join(format!("{name}-srcnat.nft"));
        fs::write(&ruleset, firewall::check_srcnat_ruleset(&snippet)).unwrap();
        let out = ns.exec("nft").args(["-c", "-f"]).arg(&ruleset).output().expect("spawn nft");
        assert!(out.status.success(), "case {name}: nft -c rejected the srcnat snippet:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(seen, ["static-wan"]);
}

/// Render `cfg`'s conntrackd.conf under a fresh root, start conntrackd with it in a
/// namespace holding the sync device and address, and return its `-s` answer.
fn conntrackd_answers_stats(cfg: &Config) -> String {
    let tmp = TempDir::new();
    let paths = Paths::new(&tmp.0);
    for dir in [paths.conntrackd_lock(), paths.conntrackd_ctl(), paths.conntrackd_conf()] {
        fs::create_dir_all(dir.parent().unwrap()).unwrap();
    }
    let conf = paths.conntrackd_conf();
    fs::write(&conf, conntrackd::render(cfg, &paths)).unwrap();

    let mut ns = Netns::new();
    let sync = &cfg.sync;
    ns.add_device(&sync.interface.device);
    for a in &sync.interface.addresses {
        ns.add_address(&sync.interface.device, &a.to_string());
    }

    // In the foreground conntrackd logs to stdout; keep it to check for warnings.
    let console = tmp.0.join("console.log");
    let log_file = fs::File::create(&console).unwrap();
    let child = ns
        .exec("conntrackd")
        .arg("-C")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("spawn conntrackd");
    let mut daemon = Daemon::new(child);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = daemon.exited() {
            panic!(
                "conntrackd exited early ({status}):\n{}\nwith:\n{}",
                fs::read_to_string(&console).unwrap_or_default(),
                fs::read_to_string(&conf).unwrap()
            );
        }
        let out = ns.exec("conntrackd").arg("-C").arg(&conf).arg("-s").output().expect("spawn conntrackd -s");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text.contains("cache internal") {
            assert!(paths.conntrackd_ctl().exists(), "control socket not at the per-root path");
            drop(daemon);
            // A clean config draws only [notice] lines; conntrackd 1.4.7 flags a bad
            // combination as `[warning]` and keeps running.
            let said = fs::read_to_string(&console).unwrap_or_default();
            let complaints: Vec<&str> = said
                .lines()
                .filter(|l| {
                    let l = l.to_ascii_lowercase();
                    l.contains("[warning]") || l.contains("[error]")
                })
                .collect();
            assert!(complaints.is_empty(), "conntrackd complained:\n{said}");
            assert!(said.contains("initialization completed"), "conntrackd said:\n{said}");
            return text;
        }
        assert!(Instant::now() < deadline, "conntrackd never answered -s: {}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rendered_conntrackd_conf_starts_conntrackd_over_multicast() {
    if !can_run("conntrackd multicast", &["ip", "conntrackd"]) {
        return;
    }
    let cfg = base(Role::Backup);
    assert_eq!(cfg.sync.mode, SyncMode::Multicast);
    let stats = conntrackd_answers_stats(&cfg);
    let want = format!("multicast traffic (active device={})", cfg.sync.interface.device);
    assert!(stats.contains(&want), "{stats}");
}

#[test]
fn rendered_conntrackd_conf_starts_conntrackd_over_udp() {
    if !can_run("conntrackd udp", &["ip", "conntrackd"]) {
        return;
    }
    let mut cfg = base(Role::Master);
    cfg.sync = sync_link(cfg.sync.interface.clone(), SyncMode::Unicast, Some("198.51.100.2"));
    cfg.sync.port = 3781;
    let stats = conntrackd_answers_stats(&cfg);
    let want = format!("UDP traffic (active device={})", cfg.sync.interface.device);
    assert!(stats.contains(&want), "{stats}");
}
