//! Every side effect of a transition goes through [`System`]: a real backend that spawns
//! programs (argument vectors, never `sh -c`; every child with a timeout) and a recording
//! dry run that logs what would happen, in order, for tests and `muros-ha plan`.

use super::plan::ConntrackdOp;
use crate::paths::Paths;
use crate::ubus;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use crate::proc::{self, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdOutcome {
    /// Exit code; `None` when killed by a signal or not started.
    pub code: Option<i32>,
    pub timed_out: bool,
    /// The start of its stderr (bounded), or why it could not start.
    pub detail: String,
}

impl CmdOutcome {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    fn failed(detail: impl Into<String>) -> Self {
        CmdOutcome { code: None, timed_out: false, detail: detail.into() }
    }
}

/// The side effects the failover engine needs.
pub trait System: Sync {
    /// Run `argv` (argv[0] a path or a program name looked up in PATH and the usual
    /// OpenWrt bin dirs) with no stdin, stdout discarded, killed after `timeout`.
    fn run(&self, argv: &[String], timeout: Duration) -> CmdOutcome;
    /// One conntrackd client request on its control socket (what `conntrackd -C conf
    /// <flag>` sends, without the fork); returns what conntrackd wrote back.
    fn conntrackd(&self, socket: &Path, op: ConntrackdOp, timeout: Duration) -> Result<String, String>;
    /// `ubus call object method args`; returns the reply text.
    fn ubus_call(&self, object: &str, method: &str, args: &Value, timeout: Duration) -> Result<String, String>;
    /// `ubus send event data`.
    fn ubus_send(&self, event: &str, data: &Value, timeout: Duration) -> Result<(), String>;
    /// Something accepts connections on this unix socket.
    fn socket_alive(&self, path: &Path) -> bool;
    /// A process named `program` runs whose command line contains `with_arg` (if given).
    fn process_alive(&self, program: &str, with_arg: Option<&str>) -> bool;
    fn path_exists(&self, path: &Path) -> bool;
    fn remove_file(&self, path: &Path) -> Result<(), String>;
    /// The file's bytes (through a symlink), `None` when it cannot be read.
    fn read_file(&self, path: &Path) -> Option<Vec<u8>>;
    /// Replace `path` (a symlink itself, not its target) by a file holding `bytes`, by
    /// rename: readers see the old file or the new one, never half of one.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), String>;
    /// Write `bytes` into an existing file as it is (a sysfs attribute), no rename.
    fn write_in_place(&self, path: &Path, bytes: &[u8]) -> Result<(), String>;
    /// Replace `link` by a symlink to `target`, by rename as well.
    fn symlink(&self, target: &Path, link: &Path) -> Result<(), String>;
    /// `(device, "addr/prefix")` of every address in our network namespace.
    fn addresses(&self) -> Result<Vec<(String, String)>, String>;
}

/// Longest stderr excerpt kept for the history.
const DETAIL_MAX: usize = 300;

/// The real backend.
pub struct RealSystem {
    ubus_socket: PathBuf,
    resolved: Mutex<Vec<(String, PathBuf)>>,
    /// One ubus connection for the whole transition (WAN call and event), opened on
    /// first use and dropped after an error so the next use reconnects.
    ubus: Mutex<Option<ubus::Client>>,
}

impl RealSystem {
    pub fn new(ubus_socket: impl Into<PathBuf>) -> Self {
        RealSystem { ubus_socket: ubus_socket.into(), resolved: Mutex::new(Vec::new()), ubus: Mutex::new(None) }
    }

    fn with_ubus<T>(
        &self,
        timeout: Duration,
        f: impl FnOnce(&mut ubus::Client) -> ubus::Result<T>,
    ) -> Result<T, String> {
        let mut guard = self.ubus.lock().map_err(|_| "ubus client lock poisoned".to_string())?;
        let client = match guard.take() {
            Some(c) => guard.insert(c),
            None => guard.insert(
                ubus::Client::connect_timeout(&self.ubus_socket, timeout)
                    .map_err(|e| format!("ubus {}: {}", self.ubus_socket.display(), e))?,
            ),
        };
        client.set_timeout(timeout);
        match f(client) {
            Ok(v) => Ok(v),
            Err(e) => {
                *guard = None;
                Err(e.to_string())
            }
        }
    }

    /// keepalived may run the hook with a minimal PATH; conntrackd lives in /usr/sbin.
    fn resolve(&self, program: &str) -> Option<PathBuf> {
        if program.contains('/') {
            return Some(PathBuf::from(program));
        }
        if let Ok(cache) = self.resolved.lock() {
            if let Some((_, p)) = cache.iter().find(|(k, _)| k == program) {
                return Some(p.clone());
            }
        }
        let found = proc::find_program(program)?;
        if let Ok(mut cache) = self.resolved.lock() {
            if !cache.iter().any(|(k, _)| k == program) {
                cache.push((program.to_string(), found.clone()));
            }
        }
        Some(found)
    }
}

/// Run a child to completion or until `timeout` (then it is killed); keep the start of
/// its stderr as the detail.
fn run_child(program: &Path, args: &[String], timeout: Duration) -> CmdOutcome {
    // Every fd we open is O_CLOEXEC (our transition lock included), so the child and the
    // daemons it starts inherit only stdin/out/err (pitfall 5).
    let mut child = match proc::spawn(program, args, Output::Null, Output::Pipe) {
        Ok(c) => c,
        Err(e) => return CmdOutcome::failed(format!("cannot start {}: {}", program.display(), e)),
    };
    // A daemon started by the child may still hold the pipe: finish does not wait for it.
    let done = match proc::finish(&mut child, timeout, DETAIL_MAX) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return CmdOutcome { code: None, timed_out: true, detail: e.to_string() },
        Err(e) => return CmdOutcome::failed(format!("wait failed: {}", e)),
    };
    let mut detail = String::from_utf8_lossy(&done.stderr).trim_ascii().to_string();
    let code = done.status.and_then(|st| st.code());
    if done.status.is_none() {
        // u64 millis: the same digits, without u128 formatting in the binary.
        detail = format!("killed after {} ms timeout; {}", timeout.as_millis() as u64, detail);
    } else if code.is_none() {
        detail = format!("killed by signal; {}", detail);
    }
    CmdOutcome { code, timed_out: done.status.is_none(), detail }
}

/// The control socket conntrackd listens on: the `UNIX { Path … }` of its config (what
/// `conntrackd -C conf` would use), else the root's default.
pub fn conntrackd_socket(paths: &Paths) -> PathBuf {
    let text = crate::fsutil::read_to_string(paths.conntrackd_conf()).unwrap_or_default();
    let mut in_unix = false;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim_ascii();
        let mut words = line.split_ascii_whitespace();
        match (words.next(), words.next()) {
            (Some(w), _) if w.eq_ignore_ascii_case("UNIX") => in_unix = true,
            (Some(w), Some(p)) if in_unix && w.eq_ignore_ascii_case("Path") => {
                return PathBuf::from(p.trim_matches('"'));
            }
            (Some("}"), _) => in_unix = false,
            _ => {}
        }
    }
    paths.conntrackd_ctl()
}

/// The numbers worth showing from `conntrackd -s`.
pub fn conntrackd_stats(text: &str) -> Value {
    let mut section = "";
    let mut out = serde_json::Map::new();
    for line in text.lines() {
        let t = line.trim_ascii();
        if t.starts_with("cache internal") {
            section = "internal";
        } else if t.starts_with("cache external") {
            section = "external";
        } else if let Some(rest) = t.strip_prefix("current active connections:") {
            if let Some(n) = crate::parse_u64(rest.trim_ascii()) {
                out.insert(format!("{}_active", section), json!(n));
            }
        } else {
            // "1120 Bytes sent 816 Bytes recv", "0 Malformed msgs 0 Lost msgs", …
            let words: Vec<&str> = t.split_ascii_whitespace().collect();
            for w in words.windows(3) {
                if let Some(n) = crate::parse_u64(w[0]) {
                    let key = format!("{}_{}", w[1], w[2]).to_ascii_lowercase();
                    if matches!(key.as_str(), "pckt_sent" | "pckt_recv" | "error_send" | "error_recv" | "malformed_msgs" | "lost_msgs") {
                        out.insert(key, json!(n));
                    }
                }
            }
        }
    }
    Value::Object(out)
}

/// Replies longer than this are cut (a `-s` dump can be long; we only keep a note).
const CONNTRACKD_REPLY_MAX: usize = 4096;

impl System for RealSystem {
    fn conntrackd(&self, socket: &Path, op: ConntrackdOp, timeout: Duration) -> Result<String, String> {
        let ctx = |e: std::io::Error| format!("conntrackd control socket {}: {}", socket.display(), e);
        let mut s = UnixStream::connect(socket).map_err(ctx)?;
        s.set_read_timeout(Some(timeout)).map_err(ctx)?;
        s.set_write_timeout(Some(timeout)).map_err(ctx)?;
        // The request is a native-endian C int; conntrackd answers (maybe nothing) and
        // closes when done — for a commit, only once the commit has finished.
        s.write_all(&op.request().to_ne_bytes()).map_err(ctx)?;
        let reply = crate::fsutil::read_all(std::os::fd::AsFd::as_fd(&s), CONNTRACKD_REPLY_MAX).map_err(ctx)?;
        Ok(String::from_utf8_lossy(&reply).trim_ascii().to_string())
    }

    fn run(&self, argv: &[String], timeout: Duration) -> CmdOutcome {
        let Some((prog, args)) = argv.split_first() else {
            return CmdOutcome::failed("empty command");
        };
        match self.resolve(prog) {
            Some(p) => run_child(&p, args, timeout),
            None => CmdOutcome::failed(format!("{} not found in PATH", prog)),
        }
    }

    fn ubus_call(&self, object: &str, method: &str, args: &Value, timeout: Duration) -> Result<String, String> {
        let replies = self.with_ubus(timeout, |c| c.call_json(object, method, args))?;
        Ok(replies.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n"))
    }

    fn ubus_send(&self, event: &str, data: &Value, timeout: Duration) -> Result<(), String> {
        let table = ubus::json::to_table(data)?;
        self.with_ubus(timeout, |c| c.send_event(event, table))
    }

    fn socket_alive(&self, path: &Path) -> bool {
        UnixStream::connect(path).is_ok()
    }

    fn process_alive(&self, program: &str, with_arg: Option<&str>) -> bool {
        let Ok(dir) = std::fs::read_dir("/proc") else { return false };
        for e in dir.flatten() {
            let name = e.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let comm = crate::fsutil::read_to_string(e.path().join("comm")).unwrap_or_default();
            if comm.trim_ascii_end() != program {
                continue;
            }
            match with_arg {
                None => return true,
                Some(a) => {
                    let cmdline = crate::fsutil::read(e.path().join("cmdline")).unwrap_or_default();
                    if cmdline.split(|b| *b == 0).any(|w| w == a.as_bytes()) {
                        return true;
                    }
                }
            }
        }
        false
    }

    fn path_exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn remove_file(&self, path: &Path) -> Result<(), String> {
        std::fs::remove_file(path).map_err(|e| format!("remove {}: {}", path.display(), e))
    }

    fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        crate::fsutil::read(path).ok()
    }

    fn write_in_place(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        std::fs::OpenOptions::new().write(true).open(path).and_then(|mut f| std::io::Write::write_all(&mut f, bytes)).map_err(|e| format!("write {}: {}", path.display(), e))
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        // tmpfs: no fsync (state::replace_quick), the rename is what matters.
        super::state::replace_quick(path, bytes).map_err(|e| format!("write {}: {}", path.display(), e))
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<(), String> {
        let tmp = crate::fsutil::temp_path(link);
        let _ = std::fs::remove_file(&tmp);
        let r = std::os::unix::fs::symlink(target, &tmp).and_then(|()| std::fs::rename(&tmp, link));
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r.map_err(|e| format!("link {} -> {}: {}", link.display(), target.display(), e))
    }

    fn addresses(&self) -> Result<Vec<(String, String)>, String> {
        interface_addresses().map_err(|e| format!("netlink address dump: {}", e))
    }
}

/// Every interface address as (interface, "address/prefix"), from the kernel's address
/// dump (RTM_GETADDR on NETLINK_ROUTE), the one `ip addr` reads. Our own loop instead of
/// getifaddrs(3), which also dumps every link and with nix's iterator cost ≈3 KB on MIPS.
/// IPv4 names come from the address label (`eth0:1` for an alias, as getifaddrs gives
/// them); others from the interface index.
fn interface_addresses() -> std::io::Result<Vec<(String, String)>> {
    use nix::sys::socket::{recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};
    const RTM_NEWADDR: u16 = 20;
    const RTM_GETADDR: u16 = 22;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    let fd = socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkRoute)?;
    setsockopt(&fd, sockopt::ReceiveTimeout, &nix::sys::time::TimeVal::new(2, 0))?;
    // nlmsghdr {len, type, flags REQUEST|DUMP, seq, pid} + ifaddrmsg (all families).
    let mut req = [0u8; 24];
    req[0..4].copy_from_slice(&24u32.to_ne_bytes());
    req[4..6].copy_from_slice(&RTM_GETADDR.to_ne_bytes());
    req[6..8].copy_from_slice(&0x301u16.to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    send(fd.as_raw_fd(), &req, MsgFlags::empty())?;
    let u16_at = |b: &[u8], i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    // Bounded: a dump of thousands of addresses takes a few dozen reads.
    for _ in 0..10_000 {
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
        let mut at = 0;
        while at + 16 <= n {
            let len = u32_at(&buf, at) as usize;
            if len < 16 || at + len > n {
                return Err(std::io::ErrorKind::InvalidData.into());
            }
            let msg = &buf[at..at + len];
            at += (len + 3) & !3;
            match u16_at(msg, 4) {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR if len >= 20 => return Err(std::io::Error::from_raw_os_error(-(u32_at(msg, 16) as i32))),
                RTM_NEWADDR if len >= 24 => {}
                _ => continue,
            }
            let (family, prefix, index) = (msg[16], msg[17], u32_at(msg, 20));
            let (mut address, mut local, mut label) = (None, None, None);
            let mut a = 24;
            while a + 4 <= len {
                let alen = u16_at(msg, a) as usize;
                if alen < 4 || a + alen > len {
                    break;
                }
                let data = &msg[a + 4..a + alen];
                match u16_at(msg, a + 2) {
                    1 => address = Some(data),
                    2 => local = Some(data),
                    3 => label = Some(data.split(|&b| b == 0).next().unwrap_or_default()),
                    _ => {}
                }
                a += (alen + 3) & !3;
            }
            let ip = match (family as i32, local.or(address)) {
                (nix::libc::AF_INET, Some(d)) if d.len() == 4 => IpAddr::from([d[0], d[1], d[2], d[3]]),
                (nix::libc::AF_INET6, Some(d)) if d.len() == 16 => IpAddr::from(<[u8; 16]>::try_from(d).unwrap_or_default()),
                _ => continue,
            };
            let name = match label {
                Some(l) if family as i32 == nix::libc::AF_INET && !l.is_empty() => String::from_utf8_lossy(l).into_owned(),
                _ => match nix::net::if_::if_indextoname(index) {
                    Ok(n) => n.to_string_lossy().into_owned(),
                    Err(_) => continue,
                },
            };
            out.push((name, format!("{}/{}", ip, prefix)));
        }
    }
    Err(std::io::ErrorKind::InvalidData.into())
}

/// The recording dry run. Simulates just enough state (conntrackd up or not, which
/// services run, which files exist) for the executor's decisions to be checked.
#[derive(Default)]
pub struct RecordingSystem {
    log: Mutex<Vec<String>>,
    pub conntrackd_up: AtomicBool,
    pub conntrackd_process: AtomicBool,
    running: Mutex<HashSet<String>>,
    files: Mutex<HashSet<PathBuf>>,
    /// Contents of files written (or given) in this dry run.
    contents: Mutex<HashMap<PathBuf, Vec<u8>>>,
    /// A command whose line contains one of these fails (exit 1).
    failing: Mutex<Vec<String>>,
    /// What a failing `run` writes to stderr, by the same needles.
    failure_details: Mutex<Vec<(String, String)>>,
    addrs: Mutex<Vec<(String, String)>>,
    /// Canned replies of `ubus call <object> …`, by object.
    ubus_replies: Mutex<HashMap<String, String>>,
}

impl RecordingSystem {
    /// conntrackd answers, and netifd says the WAN `wan` is up (`set_ubus_reply` to
    /// change that).
    pub fn new() -> Self {
        let s = RecordingSystem::default();
        s.conntrackd_up.store(true, Ordering::SeqCst);
        s.set_ubus_reply("network.interface.wan", r#"{"up":true,"ipv4-address":[{"address":"198.51.100.23","mask":24}]}"#);
        s
    }
    /// Everything done so far, one line per side effect, in order.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
    pub fn fail_when(&self, needle: &str) {
        if let Ok(mut f) = self.failing.lock() {
            f.push(needle.to_string());
        }
    }
    /// Like [`Self::fail_when`], with `detail` as the command's stderr.
    pub fn fail_saying(&self, needle: &str, detail: &str) {
        self.fail_when(needle);
        if let Ok(mut d) = self.failure_details.lock() {
            d.push((needle.to_string(), detail.to_string()));
        }
    }
    pub fn add_file(&self, p: impl Into<PathBuf>) {
        if let Ok(mut f) = self.files.lock() {
            f.insert(p.into());
        }
    }
    /// A file with these bytes, as if it were on disk.
    pub fn put_file(&self, p: impl Into<PathBuf>, bytes: &[u8]) {
        let p = p.into();
        self.add_file(p.clone());
        if let Ok(mut c) = self.contents.lock() {
            c.insert(p, bytes.to_vec());
        }
    }
    pub fn set_running(&self, service: &str, running: bool) {
        if let Ok(mut r) = self.running.lock() {
            if running {
                r.insert(service.to_string());
            } else {
                r.remove(service);
            }
        }
    }
    pub fn set_ubus_reply(&self, object: &str, reply: &str) {
        if let Ok(mut r) = self.ubus_replies.lock() {
            r.insert(object.to_string(), reply.to_string());
        }
    }
    pub fn set_addresses(&self, a: Vec<(String, String)>) {
        if let Ok(mut x) = self.addrs.lock() {
            *x = a;
        }
    }
    fn record(&self, line: String) -> bool {
        let fails = self.failing.lock().map(|f| f.iter().any(|n| line.contains(n.as_str()))).unwrap_or(false);
        if let Ok(mut l) = self.log.lock() {
            l.push(line);
        }
        !fails
    }
}

impl System for RecordingSystem {
    fn conntrackd(&self, socket: &Path, op: ConntrackdOp, _t: Duration) -> Result<String, String> {
        if !self.conntrackd_up.load(Ordering::SeqCst) {
            self.record(format!("conntrackd {} {} (not answering)", socket.display(), op.flags().join(" ")));
            return Err("not answering".into());
        }
        if self.record(format!("conntrackd {} {}", socket.display(), op.flags().join(" "))) {
            Ok(String::new())
        } else {
            Err("recorded failure".into())
        }
    }

    fn run(&self, argv: &[String], _timeout: Duration) -> CmdOutcome {
        let line = format!("run {}", argv.join(" "));
        let ok = self.record(line);
        let prog = argv.first().map(String::as_str).unwrap_or("");
        let verb = argv.get(1).map(String::as_str).unwrap_or("");
        let service = Path::new(prog).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let in_init_d = prog.contains("/etc/init.d/");
        let mut code = if ok { 0 } else { 1 };
        if ok && in_init_d {
            match verb {
                "start" => self.set_running(&service, true),
                "stop" => self.set_running(&service, false),
                "running" => {
                    let r = self.running.lock().map(|r| r.contains(&service)).unwrap_or(false);
                    code = if r { 0 } else { 1 };
                }
                _ => {}
            }
            if service == "conntrackd" && verb == "start" {
                self.conntrackd_up.store(true, Ordering::SeqCst);
            }
        }
        if ok && prog == "conntrackd" && argv.iter().any(|a| a == "-d") {
            self.conntrackd_up.store(true, Ordering::SeqCst);
        }
        let line = argv.join(" ");
        let detail = if ok {
            String::new()
        } else {
            let d = self.failure_details.lock().ok().and_then(|d| d.iter().find(|(n, _)| line.contains(n.as_str())).map(|(_, x)| x.clone()));
            d.unwrap_or_default()
        };
        CmdOutcome { code: Some(code), timed_out: false, detail }
    }

    fn ubus_call(&self, object: &str, method: &str, args: &Value, _t: Duration) -> Result<String, String> {
        if self.record(format!("ubus call {} {} {}", object, method, args)) {
            Ok(self.ubus_replies.lock().ok().and_then(|r| r.get(object).cloned()).unwrap_or_default())
        } else {
            Err("recorded failure".into())
        }
    }

    fn ubus_send(&self, event: &str, data: &Value, _t: Duration) -> Result<(), String> {
        if self.record(format!("ubus send {} {}", event, data)) {
            Ok(())
        } else {
            Err("recorded failure".into())
        }
    }

    fn socket_alive(&self, _path: &Path) -> bool {
        self.conntrackd_up.load(Ordering::SeqCst)
    }

    fn process_alive(&self, _program: &str, _with_arg: Option<&str>) -> bool {
        self.conntrackd_process.load(Ordering::SeqCst)
    }

    fn path_exists(&self, path: &Path) -> bool {
        self.files.lock().map(|f| f.contains(path)).unwrap_or(false)
    }

    fn remove_file(&self, path: &Path) -> Result<(), String> {
        self.record(format!("remove {}", path.display()));
        if let Ok(mut f) = self.files.lock() {
            f.remove(path);
        }
        Ok(())
    }

    fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        self.contents.lock().ok().and_then(|c| c.get(path).cloned())
    }

    fn write_in_place(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        if self.record(format!("sysfs {} {:?}", path.display(), String::from_utf8_lossy(bytes))) {
            Ok(())
        } else {
            Err("recorded failure".into())
        }
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        if !self.record(format!("write {} {:?}", path.display(), String::from_utf8_lossy(bytes))) {
            return Err("recorded failure".into());
        }
        self.put_file(path, bytes);
        Ok(())
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<(), String> {
        if !self.record(format!("link {} -> {}", link.display(), target.display())) {
            return Err("recorded failure".into());
        }
        // What a reader sees through the link is not simulated: nothing, here.
        if let Ok(mut c) = self.contents.lock() {
            c.remove(link);
        }
        self.add_file(link);
        Ok(())
    }

    fn addresses(&self) -> Result<Vec<(String, String)>, String> {
        Ok(self.addrs.lock().map(|a| a.clone()).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn the_control_socket_comes_from_the_conntrackd_config() {
        let d = std::env::temp_dir().join(format!("muros-ctdsock-{}", std::process::id()));
        let p = Paths::new(&d);
        assert_eq!(conntrackd_socket(&p), p.conntrackd_ctl());
        std::fs::create_dir_all(p.conntrackd_conf().parent().unwrap()).unwrap();
        std::fs::write(
            p.conntrackd_conf(),
            "General {\n LockFile /x.lock\n UNIX {\n  # Path /not/this\n  Path /run/ctd.ctl\n  Backlog 20\n }\n}\n",
        )
        .unwrap();
        assert_eq!(conntrackd_socket(&p), PathBuf::from("/run/ctd.ctl"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn conntrackd_statistics_are_picked_out() {
        let text = "cache internal:\ncurrent active connections:            4\ncache external:\ncurrent active connections:            7\nUDP traffic (active device=eth2):\n            1120 Bytes sent             816 Bytes recv\n              27 Pckt sent               20 Pckt recv\n               0 Error send               0 Error recv\nmessage tracking:\n               0 Malformed msgs           3 Lost msgs\n";
        let v = conntrackd_stats(text);
        assert_eq!(v["internal_active"], 4);
        assert_eq!(v["external_active"], 7);
        assert_eq!(v["pckt_sent"], 27);
        assert_eq!(v["pckt_recv"], 20);
        assert_eq!(v["lost_msgs"], 3);
    }

    #[test]
    fn addresses_include_loopback_with_its_prefix() {
        let a = RealSystem::new("/nonexistent").addresses().unwrap();
        assert!(a.iter().any(|(d, x)| d == "lo" && x == "127.0.0.1/8"), "{a:?}");
    }

    #[test]
    fn the_address_dump_lists_what_getifaddrs_lists() {
        let mut ours = interface_addresses().unwrap();
        let mut theirs: Vec<(String, String)> = nix::ifaddrs::getifaddrs()
            .unwrap()
            .filter_map(|a| {
                let s = a.address?;
                let (ip, bits) = if let Some(v4) = s.as_sockaddr_in() {
                    (IpAddr::V4(v4.ip()), a.netmask.and_then(|m| m.as_sockaddr_in().map(|m| u32::from(m.ip()).count_ones()))?)
                } else {
                    let v6 = s.as_sockaddr_in6()?;
                    (IpAddr::V6(v6.ip()), a.netmask.and_then(|m| m.as_sockaddr_in6().map(|m| u128::from(m.ip()).count_ones()))?)
                };
                Some((a.interface_name, format!("{}/{}", ip, bits)))
            })
            .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn a_hung_child_is_killed_at_its_timeout() {
        let s = RealSystem::new("/nonexistent");
        let t0 = Instant::now();
        let o = s.run(&["sleep".into(), "5".into()], Duration::from_millis(200));
        assert!(o.timed_out && !o.success(), "{o:?}");
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_child_that_leaves_a_daemon_holding_stderr_does_not_block_us() {
        let s = RealSystem::new("/nonexistent");
        let t0 = Instant::now();
        // The background sleep keeps the stderr pipe open after sh exits.
        let o = s.run(&["sh".into(), "-c".into(), "echo oops >&2; sleep 3 & exit 3".into()], Duration::from_secs(5));
        assert_eq!(o.code, Some(3));
        assert_eq!(o.detail, "oops");
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    }

    #[test]
    fn a_missing_program_is_a_failure_with_a_reason() {
        let s = RealSystem::new("/nonexistent");
        let o = s.run(&["muros-no-such-program".into()], Duration::from_secs(1));
        assert!(!o.success());
        assert!(o.detail.contains("not found"), "{o:?}");
    }
}
