//! Make keepalived and conntrackd pick up changed files.
//!
//! keepalived re-reads its config on SIGHUP without dropping VRRP state, so a change is
//! hitless. conntrackd has no reload: it must be restarted, which empties its caches —
//! so it is restarted only when its file really changed.

use crate::paths::Paths;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::PathBuf;
use crate::proc::Output;

/// The PID in `pidfile` if that process is alive.
pub fn running_pid(pidfile: &std::path::Path) -> Option<Pid> {
    let text = crate::fsutil::read_to_string(pidfile).ok()?;
    let n = i32::try_from(crate::parse_i64(text.trim_ascii())?).ok()?;
    if n <= 1 {
        return None;
    }
    let pid = Pid::from_raw(n);
    kill(pid, None).ok().map(|_| pid)
}

/// Reload what `changed` requires; returns what was done, one line each.
pub fn reload_for(paths: &Paths, changed: &[PathBuf]) -> Vec<String> {
    let mut done = Vec::new();
    if changed.iter().any(|p| crate::paths::same(p, &paths.keepalived_conf())) {
        if let Some(pid) = running_pid(&paths.keepalived_pid()) {
            match kill(pid, Signal::SIGHUP) {
                Ok(()) => done.push(format!("keepalived: reloaded (SIGHUP to {})", pid)),
                Err(e) => done.push(format!("keepalived: SIGHUP to {} failed: {}", pid, std::io::Error::from(e))),
            }
        } else {
            done.push(init_action(paths, "keepalived", "reload"));
        }
    }
    if changed.iter().any(|p| crate::paths::same(p, &paths.conntrackd_conf())) {
        done.push(init_action(paths, "conntrackd", "restart"));
    }
    if changed.iter().any(|p| crate::paths::same(p, &paths.uci_file("network"))) {
        done.push(init_action(paths, "network", "reload"));
    }
    if changed.iter().any(|p| crate::paths::same(p, &paths.uci_file("dhcp"))) {
        done.push(reload_dnsmasq(paths));
    }
    let firewall = [paths.firewall_snippet(), paths.legacy_firewall_snippet(), paths.uci_file("firewall")];
    if changed.iter().any(|p| firewall.iter().any(|f| crate::paths::same(p, f))) {
        done.push(init_action(paths, "firewall", "reload"));
    }
    done
}

/// dnsmasq reads `/etc/config/dhcp` only when (re)started. Only a running one is
/// reloaded: a BACKUP whose `list service` holds dnsmasq keeps it stopped on purpose,
/// and its init script's `reload` goes through procd's start_service, which would start
/// it (two DHCP servers on the LAN).
fn reload_dnsmasq(paths: &Paths) -> String {
    let script = paths.init_script("dnsmasq");
    let running = script.is_file()
        && crate::proc::spawn(&script, &[std::ffi::OsStr::new("running")], Output::Null, Output::Null)
            .and_then(|mut c| c.wait())
            .is_ok_and(|s| s.success());
    if running {
        init_action(paths, "dnsmasq", "reload")
    } else {
        "dnsmasq: not running; will use the new file when started".to_string()
    }
}

/// `/etc/init.d/<svc> <verb>` when the script exists; says so when it does not.
fn init_action(paths: &Paths, svc: &str, verb: &str) -> String {
    let script = paths.init_script(svc);
    if !script.is_file() {
        return format!("{}: not running and no init script; will use the new file when started", svc);
    }
    match crate::proc::spawn(&script, &[std::ffi::OsStr::new(verb)], Output::Null, Output::Null).and_then(|mut c| c.wait()) {
        Ok(s) if s.success() => format!("{}: {}", svc, verb),
        Ok(s) => format!("{}: {} failed (exit {})", svc, verb, s.code().unwrap_or(-1)),
        Err(e) => format!("{}: {} failed: {}", svc, verb, e),
    }
}
