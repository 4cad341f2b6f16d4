//! `/etc/hotplug.d/muros-ha/` (issue 18 §3): the admin's scripts, run the way OpenWrt's
//! `hotplug-call` runs them (each sourced in its own shell, after `/lib/functions.sh`,
//! in name order), on every transition and every alert raised or cleared, with `ACTION`
//! and the details in the environment:
//!
//! | `ACTION` | also set |
//! |---|---|
//! | `master`, `backup`, `fault`, `stop` | `FROM`, `TO`, `REASON`, `MS` (the plan's time), `OK` (1/0), `SEQ` |
//! | an alert kind: `split_brain`, `fenced`, `drift`, `upstream_down`, `vrrp_mismatch`, `vrid_collision`, `handover_failed` | `ACTIVE` (1 raised, 0 cleared), `MESSAGE` |
//!
//! Always `HOTPLUG_TYPE=muros-ha` and `TIME` (unix seconds of the event).
//!
//! The transition is already done when they run: keepalived's hook carries it out and
//! records it; the daemon sees the record and only then queues the scripts. They run
//! on one worker thread, in order, each bounded by [`TIMEOUT`] (then its whole process
//! group is killed), so a slow or failing script delays other scripts, never a
//! failover. What each did goes to `history.events` (kind `hotplug`). The script path
//! is an argument of a constant shell command, never part of it; nothing the peer
//! sends names a script (`/etc/hotplug.d` is not replicated).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Longest one script may run.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Events waiting beyond this are dropped, oldest first (and said so).
const QUEUE_MAX: usize = 64;
/// What `hotplug-call` does for each script, with the script as `$1` and the
/// environment as `NAME=value` words after it: `export "$kv"` assigns the word as it
/// is (never expanded), and the command text itself is constant.
const SOURCE: &str = "s=$1; shift; for kv; do export \"$kv\"; done; export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOTPLUG_TYPE=muros-ha; [ -f /lib/functions.sh ] && . /lib/functions.sh; . \"$s\"";

/// One event for the scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub action: String,
    pub env: Vec<(&'static str, String)>,
}

#[derive(Default)]
struct State {
    /// Oldest first; at most [`QUEUE_MAX`] (a Vec: a VecDeque costs more code than
    /// shifting 64 entries now and then).
    queue: Vec<Job>,
    dropped: u64,
    /// One line per job that ran a script, for `history.events` (the loop appends).
    results: Vec<String>,
}

/// The queue and its worker; cheap until the first job.
pub struct Hotplug {
    dir: PathBuf,
    shared: Arc<(Mutex<State>, Condvar)>,
    worker: bool,
}

impl Hotplug {
    /// Scripts from `dir` (`<root>/etc/hotplug.d/muros-ha`).
    pub fn new(dir: PathBuf) -> Self {
        Hotplug { dir, shared: Arc::default(), worker: false }
    }

    /// Queue `job`; `wake` is called when its result is ready.
    pub fn push(&mut self, job: Job, wake: Arc<dyn Fn() + Send + Sync>) {
        if scripts(&self.dir).is_empty() {
            return;
        }
        {
            let mut st = self.shared.0.lock().unwrap_or_else(PoisonError::into_inner);
            if st.queue.len() >= QUEUE_MAX {
                st.queue.remove(0);
                st.dropped += 1;
            }
            st.queue.push(job);
        }
        self.shared.1.notify_one();
        if !self.worker {
            let (dir, shared) = (self.dir.clone(), self.shared.clone());
            match crate::spawn_named("hotplug", Box::new(move || work(&dir, &shared, &*wake))) {
                Ok(_) => self.worker = true,
                Err(e) => log::warn!("hotplug: cannot start the worker: {}", e),
            }
        }
    }

    /// Result lines since the last call.
    pub fn take_results(&self) -> Vec<String> {
        std::mem::take(&mut self.shared.0.lock().unwrap_or_else(PoisonError::into_inner).results)
    }
}

/// The regular files in `dir`, by name, without hidden and backup files.
fn scripts(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && !n.ends_with('~'))
        .take(256)
        .collect();
    crate::sort_small(&mut names, |a, b| a < b);
    names.into_iter().map(|n| dir.join(n)).collect()
}

fn work(dir: &Path, shared: &(Mutex<State>, Condvar), wake: &(dyn Fn() + Send + Sync)) {
    loop {
        let (job, dropped) = {
            let mut st = shared.0.lock().unwrap_or_else(PoisonError::into_inner);
            while st.queue.is_empty() {
                st = shared.1.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
            // Not empty: the wait above ends only then.
            (st.queue.remove(0), std::mem::take(&mut st.dropped))
        };
        let mut parts: Vec<String> = scripts(dir).iter().map(|s| run_one(s, &job)).collect();
        if parts.is_empty() {
            continue;
        }
        if dropped > 0 {
            parts.push(format!("{} earlier events dropped (queue full)", dropped));
        }
        let line = format!("{}: {}", job.action, parts.join("; "));
        shared.0.lock().unwrap_or_else(PoisonError::into_inner).results.push(line);
        wake();
    }
}

/// Run one script for `job`: "10-log ok (3 ms)", "20-hook exit 1 (12 ms): <stderr>",
/// "30-slow killed after 10 s".
fn run_one(script: &Path, job: &Job) -> String {
    use std::os::unix::process::CommandExt;
    let name = script.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args(["-c", SOURCE, "muros-ha-hotplug"]).arg(script);
    // Names are ours (constants); values only ever travel as data.
    cmd.arg(format!("ACTION={}", job.action));
    for (k, v) in &job.env {
        cmd.arg(format!("{}={}", k, v));
    }
    // Its own process group, so a timeout kills what it started too.
    cmd.process_group(0).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    let t0 = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return format!("{} did not start: {}", name, e),
    };
    let pgid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
    let done = crate::proc::finish(&mut child, TIMEOUT, 512);
    let ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
    match done {
        Ok(f) => match f.status {
            Some(st) if st.success() => format!("{} ok ({} ms)", name, ms),
            Some(st) => {
                let err = String::from_utf8_lossy(&f.stderr);
                let err: String = err.trim().chars().filter(|c| !c.is_control()).take(200).collect();
                format!("{} exit {} ({} ms){}{}", name, st.code().unwrap_or(-1), ms, if err.is_empty() { "" } else { ": " }, err)
            }
            None => {
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                format!("{} killed after {} s", name, TIMEOUT.as_secs())
            }
        },
        Err(e) => {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            format!("{}: {}", name, e)
        }
    }
}

/// A transition as the scripts see it.
pub fn transition_job(r: &crate::failover::history::HistoryRecord) -> Job {
    Job {
        action: r.to.as_str().to_ascii_lowercase(),
        env: vec![
            ("FROM", r.from.map(|f| f.as_str().to_string()).unwrap_or_default()),
            ("TO", r.to.as_str().to_string()),
            ("REASON", r.reason.clone()),
            ("MS", r.ms.to_string()),
            ("OK", if r.ok { "1" } else { "0" }.to_string()),
            ("SEQ", r.seq.to_string()),
            ("TIME", r.time.to_string()),
        ],
    }
}

/// An alert raised (`Some(message)`) or cleared.
pub fn alert_job(kind: &str, message: Option<&str>) -> Job {
    Job {
        action: kind.to_string(),
        env: vec![
            ("ACTIVE", if message.is_some() { "1" } else { "0" }.to_string()),
            ("MESSAGE", message.unwrap_or_default().to_string()),
            ("TIME", crate::failover::state::now_secs().to_string()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_run_in_name_order_with_the_event_in_the_environment_and_a_bound() {
        let dir = std::env::temp_dir().join(format!("muros-hotplug-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        // Sourced, as hotplug-call does: no exec bit, no #! needed.
        std::fs::write(dir.join("20-second"), format!("echo \"2 $ACTION $ACTIVE $MESSAGE\" >> {}\nexit 3\n", log.display())).unwrap();
        std::fs::write(dir.join("10-first"), format!("echo \"1 $ACTION $HOTPLUG_TYPE\" >> {}\n", log.display())).unwrap();
        std::fs::write(dir.join(".hidden"), "exit 1\n").unwrap();
        std::fs::write(dir.join("10-first~"), "exit 1\n").unwrap();
        let job = alert_job("split_brain", Some("both MASTER; $(id)"));
        let results: Vec<String> = scripts(&dir).iter().map(|s| run_one(s, &job)).collect();
        assert_eq!(results.len(), 2, "{results:?}");
        assert!(results[0].starts_with("10-first ok ("), "{results:?}");
        assert!(results[1].starts_with("20-second exit 3 ("), "{results:?}");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "1 split_brain muros-ha\n2 split_brain 1 both MASTER; $(id)\n", "values are data, never expanded");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
