//! Logging: syslog on a router (procd collects it into logread), stderr elsewhere.
//!
//! Nothing logged may contain the VRRP secret: the model's `Secret` type has no
//! `Display` and its `Debug` prints `***`.

use log::{LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            let _ = writeln!(std::io::stderr().lock(), "muros-ha[{}] {}: {}", std::process::id(), r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

static STDERR: StderrLogger = StderrLogger;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Syslog,
    Stderr,
}

/// Syslog when `/dev/log` exists and the root is `/` (a router); stderr otherwise, so
/// that lab routers and tests keep their logs to themselves. `MUROS_HA_LOG=stderr|syslog`
/// overrides.
pub fn choose_sink(system_root: bool) -> Sink {
    match std::env::var("MUROS_HA_LOG").as_deref() {
        Ok("stderr") => Sink::Stderr,
        Ok("syslog") => Sink::Syslog,
        _ if system_root && std::path::Path::new("/dev/log").exists() => Sink::Syslog,
        _ => Sink::Stderr,
    }
}

/// Install the logger once; later calls are ignored.
pub fn init(sink: Sink, level: LevelFilter) {
    let installed = match sink {
        Sink::Syslog => syslog::init_unix(syslog::Facility::LOG_DAEMON, level).is_ok(),
        Sink::Stderr => false,
    };
    if !installed {
        let _ = log::set_logger(&STDERR);
    }
    log::set_max_level(level);
}
