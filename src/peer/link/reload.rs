//! Service reloads after a replicated package was written (`/etc/init.d/<pkg> reload`).
//!
//! A reload can take seconds (fw4 rebuilds the ruleset, dnsmasq restarts), longer than
//! the 3 s after which the peer declares us dead, so it never runs on the peer thread: a
//! worker thread runs the queued reloads, one worker at a time, reports each result
//! (log, `status.peer.last_error`) and wakes the peer thread when done, which then
//! starts the next batch. A package changed again while its reload runs is queued once more.

use super::Link;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// fw4 on a small router takes a few seconds; a reload still running after this is
/// reported as failed (the process is killed).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(super) struct Reloads {
    /// Packages waiting for the next worker (each at most once).
    queued: Vec<String>,
    worker: Option<JoinHandle<()>>,
}

impl Link {
    /// Reload `name`'s service soon, off this thread.
    pub(super) fn queue_reload(&mut self, name: &str) {
        if !self.reloads.queued.iter().any(|q| q == name) {
            self.reloads.queued.push(name.to_string());
        }
        self.reap_reloads();
    }

    /// Forget a finished worker and start the next one when reloads wait.
    pub(super) fn reap_reloads(&mut self) {
        if self.reloads.worker.as_ref().is_some_and(|w| w.is_finished()) {
            self.reloads.worker = None;
        }
        if self.reloads.worker.is_some() || self.reloads.queued.is_empty() {
            return;
        }
        let jobs: Vec<(String, PathBuf)> = std::mem::take(&mut self.reloads.queued).into_iter().map(|n| (n.clone(), self.paths.init_script(&n))).filter(|(_, s)| s.is_file()).collect();
        if jobs.is_empty() {
            return;
        }
        let (wake, shared) = (self.wake.clone(), self.shared.clone());
        // The worker reports each result itself (log, `status.peer.last_error`) and
        // wakes this thread when done, which then starts the next batch.
        let spawned = crate::spawn_named("peer-reload", Box::new(move || {
            for (name, script) in jobs {
                let t0 = Instant::now();
                match crate::proc::run_capture(&[script.display().to_string(), "reload".to_string()], RELOAD_TIMEOUT) {
                    Ok(_) => log::info!("peer link: {} reloaded ({} ms)", name, t0.elapsed().as_millis() as u64),
                    Err(e) => {
                        let e = format!("{} reload after replication: {}", name, e);
                        log::warn!("peer link: {}", e);
                        shared.lock().last_error = Some(e);
                    }
                }
            }
            wake.wake();
        }));
        match spawned {
            Ok(w) => self.reloads.worker = Some(w),
            Err(e) => self.note_error(format!("starting a reload worker: {}", e)),
        }
    }
}
