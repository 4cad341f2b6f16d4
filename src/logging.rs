//! Logging: syslog on a router (logd collects it into logread), stderr elsewhere.
//!
//! The syslog sink is a few lines of our own rather than the `syslog` crate: that crate
//! pulls in `time` and `hostname` (≈ 28 KB of a binary with a 300–400 KB budget) for
//! timestamps and hostnames that OpenWrt's logd adds itself. A datagram
//! `<PRI>muros-ha[PID]: message` to `/dev/log` is all logd needs.
//!
//! Nothing logged may contain the VRRP secret: the model's `Secret` type has no
//! `Display` and its `Debug` prints `***`.

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger;

/// RFC 3164 without timestamp and hostname (logd and rsyslog fill them in).
struct SyslogLogger {
    socket: std::os::unix::net::UnixDatagram,
}

/// LOG_DAEMON.
const FACILITY_DAEMON: u8 = 3;

impl Log for SyslogLogger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let severity = match r.level() {
            log::Level::Error => 3,
            log::Level::Warn => 4,
            log::Level::Info => 6,
            log::Level::Debug | log::Level::Trace => 7,
        };
        let line = format!("<{}>muros-ha[{}]: {}", FACILITY_DAEMON * 8 + severity, std::process::id(), r.args());
        // A full or absent log socket must never stall a failover: drop the line.
        let _ = self.socket.send(line.as_bytes());
    }
    fn flush(&self) {}
}

fn connect_syslog(path: &std::path::Path) -> Option<SyslogLogger> {
    let socket = std::os::unix::net::UnixDatagram::unbound().ok()?;
    socket.connect(path).ok()?;
    socket.set_nonblocking(true).ok()?;
    Some(SyslogLogger { socket })
}

fn syslog_logger() -> Option<&'static SyslogLogger> {
    connect_syslog(std::path::Path::new("/dev/log")).map(|l| &*Box::leak(Box::new(l)))
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

/// One line to stderr (`to_stderr`) or stdout, in one write(2) when it fits the pipe,
/// ignoring errors (a closed pipe must not kill us). Straight to the fd: std's buffered,
/// locked stdout/stderr objects cost more code than all our printing (≈2 KB).
pub fn line(to_stderr: bool, args: std::fmt::Arguments) {
    let mut text = std::fmt::format(args);
    text.push('\n');
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        let n = if to_stderr { nix::unistd::write(std::io::stderr(), rest) } else { nix::unistd::write(std::io::stdout(), rest) };
        match n {
            Ok(0) => return,
            Ok(n) => rest = &rest[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
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
        Sink::Syslog => syslog_logger().is_some_and(|l| log::set_logger(l).is_ok()),
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

    #[test]
    fn syslog_lines_carry_facility_severity_tag_and_pid() {
        let dir = std::env::temp_dir().join(format!("muros-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let rx = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let logger = connect_syslog(&path).unwrap();
        log::set_max_level(LevelFilter::Info);
        logger.log(&Record::builder().level(log::Level::Warn).args(format_args!("split brain on {}", "lan")).build());
        let mut buf = [0u8; 256];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), format!("<28>muros-ha[{}]: split brain on lan", std::process::id()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
