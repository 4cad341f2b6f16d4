//! Logging: syslog on a router (logd collects it into logread), stderr elsewhere. The
//! `log` crate's macros everywhere; the `syslog` crate sends them to /dev/log as RFC 3164
//! lines (facility daemon, tag `muros-ha[PID]`) through our [`LocalFormat`].
//!
//! Nothing logged may contain the VRRP secret: the model's `Secret` type has no
//! `Display` and its `Debug` prints `***`.

use log::{LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::fmt::Display;
use syslog::{Facility, LogFormat, Logger, LoggerBackend, Severity};

/// `<PRI>muros-ha[PID]: message`: RFC 3164 without its optional timestamp and hostname,
/// as a local program sends it to logd, which stamps every line itself (and skips a
/// sender's stamp). The crate's `Formatter3164` would add a stamp formatted with the
/// `time` crate: 19 KB of the aarch64 binary for text logd throws away.
struct LocalFormat {
    pid: u32,
}

impl<T: Display> LogFormat<T> for LocalFormat {
    fn format<W: Write>(&self, w: &mut W, severity: Severity, message: T) -> syslog::Result<()> {
        let priority = Facility::LOG_DAEMON as u8 | severity as u8;
        write!(w, "<{}>muros-ha[{}]: {}", priority, self.pid, message).map_err(syslog::Error::Write)
    }
}

struct StderrLogger;

/// The syslog crate's logger, plus what it lacks: a socket that never blocks (a full
/// log must never stall a failover: the line is dropped) and a reconnect when logd has
/// restarted (its new socket at the same path refuses our old connection).
struct SyslogLogger {
    path: PathBuf,
    logger: Mutex<Logger<LoggerBackend, LocalFormat>>,
}

fn connect_syslog(path: &Path) -> Option<Logger<LoggerBackend, LocalFormat>> {
    let formatter = LocalFormat { pid: std::process::id() };
    let logger = syslog::unix_custom(formatter, path).ok()?;
    let nonblocking = match &logger.backend {
        LoggerBackend::Unix(s) => s.set_nonblocking(true),
        LoggerBackend::UnixStream(s) => s.get_ref().set_nonblocking(true),
        _ => Ok(()),
    };
    nonblocking.ok().map(|()| logger)
}

fn send(logger: &mut Logger<LoggerBackend, LocalFormat>, r: &Record) -> syslog::Result<()> {
    match r.level() {
        log::Level::Error => logger.err(r.args()),
        log::Level::Warn => logger.warning(r.args()),
        log::Level::Info => logger.info(r.args()),
        log::Level::Debug | log::Level::Trace => logger.debug(r.args()),
    }
}

impl SyslogLogger {
    fn new(path: &Path) -> Option<SyslogLogger> {
        Some(SyslogLogger { path: path.to_path_buf(), logger: Mutex::new(connect_syslog(path)?) })
    }
}

impl Log for SyslogLogger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let mut logger = self.logger.lock().unwrap_or_else(PoisonError::into_inner);
        match send(&mut logger, r) {
            Ok(()) => {}
            // Full: drop the line (see the struct). Anything else: logd may have
            // restarted; connect again and retry once.
            Err(syslog::Error::Write(e) | syslog::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                if let Some(fresh) = connect_syslog(&self.path) {
                    *logger = fresh;
                    let _ = send(&mut logger, r);
                }
            }
        }
    }
    fn flush(&self) {}
}

impl Log for StderrLogger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            line(true, format_args!("muros-ha[{}] {}: {}", std::process::id(), r.level(), r.args()));
        }
    }
    fn flush(&self) {}
}

static STDERR: StderrLogger = StderrLogger;

/// One line to stderr (`to_stderr`) or stdout, ignoring write errors: a closed pipe
/// (`muros-ha --help | head -1`) must not panic, as `println!` would.
pub fn line(to_stderr: bool, args: std::fmt::Arguments) {
    let _ = if to_stderr { writeln!(std::io::stderr().lock(), "{}", args) } else { writeln!(std::io::stdout().lock(), "{}", args) };
}

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
    match std::env::var_os("MUROS_HA_LOG").as_ref().and_then(|v| v.to_str()) {
        Some("stderr") => Sink::Stderr,
        Some("syslog") => Sink::Syslog,
        _ if system_root && std::path::Path::new("/dev/log").exists() => Sink::Syslog,
        _ => Sink::Stderr,
    }
}

/// Install the logger once; later calls are ignored.
pub fn init(sink: Sink, level: LevelFilter) {
    let installed = match sink {
        Sink::Syslog => SyslogLogger::new(Path::new("/dev/log")).is_some_and(|l| log::set_boxed_logger(Box::new(l)).is_ok()),
        Sink::Stderr => false,
    };
    if !installed {
        let _ = log::set_logger(&STDERR);
    }
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    fn record(f: impl FnOnce(&Record)) {
        f(&Record::builder().level(log::Level::Warn).args(format_args!("split brain on {}", "lan")).build())
    }

    fn received(rx: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = rx.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn syslog_lines_carry_facility_severity_tag_and_pid_and_survive_a_logd_restart() {
        let dir = std::env::temp_dir().join(format!("muros-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let rx = UnixDatagram::bind(&path).unwrap();
        let logger = SyslogLogger::new(&path).unwrap();
        log::set_max_level(LevelFilter::Info);
        record(|r| logger.log(r));
        // `<PRI>muros-ha[PID]: message`: daemon (3 << 3) | warning (4) = 28.
        assert_eq!(received(&rx), format!("<28>muros-ha[{}]: split brain on lan", std::process::id()));
        // logd restarts: a new socket at the same path.
        drop(rx);
        std::fs::remove_file(&path).unwrap();
        let rx = UnixDatagram::bind(&path).unwrap();
        record(|r| logger.log(r));
        assert!(received(&rx).ends_with("split brain on lan"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
