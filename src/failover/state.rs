//! Small runtime records under `state_dir` (tmpfs on a router): `desired` (the newest
//! state keepalived asked for, with a sequence number) and `current` (the last state
//! applied). Plus the locks that order transitions.

use super::GroupState;
use crate::paths::Paths;
use crate::fsutil;
use serde::Serialize;
use nix::fcntl::{Flock, FlockArg, OFlag};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The newest state asked for: `{"seq","state","pid","time"}`, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Desired {
    pub seq: u64,
    pub state: GroupState,
    pub pid: u32,
    pub time: u64,
}

/// The last transition applied (read by the daemon's `status.last_transition`):
/// `{"state","time","from","reason","ok","seq"}`, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Current {
    pub state: GroupState,
    /// Unix seconds when the plan finished.
    pub time: u64,
    /// `null` when unknown; missing reads as `None` too, as it always did.
    pub from: Option<GroupState>,
    pub reason: String,
    /// Every action succeeded.
    pub ok: bool,
    pub seq: u64,
}

pub fn desired_path(paths: &Paths) -> PathBuf {
    paths.state_dir().join("desired")
}
pub fn current_path(paths: &Paths) -> PathBuf {
    paths.state_dir().join("current")
}
fn desired_lock_path(paths: &Paths) -> PathBuf {
    paths.state_dir().join("desired.lock")
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Replace `path` by rename of a temp file beside it. No fsync: these records live on
/// tmpfs and mean nothing after a reboot; readers must only never see half a file.
pub fn replace_quick(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fsutil::create_dirs(dir)?;
    }
    // resolv.conf lives in world-writable /tmp: a new, randomly named file, never a
    // name someone could have planted a symlink at.
    let (tmp, mut f) = fsutil::create_temp(path, 0o644)?;
    let r = std::io::Write::write_all(&mut f, bytes).and_then(|()| fs::rename(&tmp, path));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

/// Take an exclusive flock on `path`, waiting for the holder. The fd is close-on-exec
/// (std opens every file with O_CLOEXEC), so daemons started while we hold it do not
/// keep it (pitfall 5). The lock goes with the returned guard.
pub fn lock_exclusive(path: &Path) -> io::Result<Flock<File>> {
    if let Some(dir) = path.parent() {
        fsutil::create_dirs(dir)?;
    }
    let f = fsutil::open(path, OFlag::O_RDWR | OFlag::O_CREAT, 0o666).map_err(|e| PathError::wrap("open", path, e))?;
    Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| PathError::wrap("flock", path, e.into()))
}

/// "open PATH: error" as an `io::Error` of the same kind. Not `io::Error::new(kind,
/// String)`: std boxes the String as a `dyn Error` whose Debug escapes it, which links
/// `char::escape_debug` and its Unicode tables (≈5 KB) for a message never debugged.
#[derive(Debug)]
struct PathError {
    what: &'static str,
    path: std::path::PathBuf,
    error: io::Error,
}

impl PathError {
    fn wrap(what: &'static str, path: &Path, error: io::Error) -> io::Error {
        io::Error::new(error.kind(), PathError { what, path: path.to_path_buf(), error })
    }
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.what, self.path.display(), self.error)
    }
}

impl std::error::Error for PathError {}

/// The record in `path`, `None` when missing, unreadable or not such a record.
impl Desired {
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let v = crate::json::parse(bytes)?;
        let o = crate::json::Obj::of(&v)?;
        Ok(Desired { seq: o.u64("seq")?, state: o.state("state")?, pid: o.u32("pid")?, time: o.u64("time")? })
    }
}

impl Current {
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let v = crate::json::parse(bytes)?;
        let o = crate::json::Obj::of(&v)?;
        Ok(Current { state: o.state("state")?, time: o.u64("time")?, from: o.opt_state("from")?, reason: o.string("reason")?, ok: o.bool("ok")?, seq: o.u64("seq")? })
    }
}

pub fn read_desired(paths: &Paths) -> Option<Desired> {
    Desired::parse(&fsutil::read(desired_path(paths)).ok()?).ok()
}

pub fn read_current(paths: &Paths) -> Option<Current> {
    Current::parse(&fsutil::read(current_path(paths)).ok()?).ok()
}

/// Record `state` as the newest wish and return it with its sequence number. A short
/// lock of its own (held for microseconds, never during a plan) makes the numbers
/// strictly increasing in the order the notify processes got here.
pub fn claim_desired(paths: &Paths, state: GroupState) -> io::Result<Desired> {
    let _guard = lock_exclusive(&desired_lock_path(paths))?;
    let seq = read_desired(paths).map_or(0, |d| d.seq) + 1;
    let d = Desired { seq, state, pid: std::process::id(), time: now_secs() };
    replace_quick(&desired_path(paths), &crate::to_json_bytes(&d)?)?;
    Ok(d)
}

pub fn write_current(paths: &Paths, c: &Current) -> io::Result<()> {
    replace_quick(&current_path(paths), &crate::to_json_bytes(c)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("muros-state-{}-{}", tag, std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn each_claim_gets_the_next_sequence_number() {
        let r = root("seq");
        let p = Paths::new(&r);
        let a = claim_desired(&p, GroupState::Backup).unwrap();
        let b = claim_desired(&p, GroupState::Master).unwrap();
        assert_eq!((a.seq, b.seq), (1, 2));
        assert_eq!(read_desired(&p).unwrap(), b);
        let _ = fs::remove_dir_all(&r);
    }

    #[test]
    fn current_round_trips_and_garbage_reads_as_none() {
        let r = root("cur");
        let p = Paths::new(&r);
        assert!(read_current(&p).is_none());
        let c = Current { state: GroupState::Master, time: 5, from: None, reason: "x".into(), ok: true, seq: 3 };
        write_current(&p, &c).unwrap();
        assert_eq!(read_current(&p).unwrap(), c);
        fs::write(current_path(&p), b"{not json").unwrap();
        assert!(read_current(&p).is_none());
        let _ = fs::remove_dir_all(&r);
    }

    /// The files as the previous release wrote them, byte for byte, and read back.
    #[test]
    fn state_files_keep_the_previous_format() {
        let d = Desired { seq: 12, state: GroupState::Backup, pid: 4242, time: 1764150000 };
        let text = r#"{"seq":12,"state":"BACKUP","pid":4242,"time":1764150000}"#;
        assert_eq!(serde_json::to_string(&d).unwrap(), text);
        assert_eq!(Desired::parse(text.as_bytes()).unwrap(), d);
        let c = Current { state: GroupState::Stop, time: 5, from: None, reason: "x \u{e9}".into(), ok: false, seq: 3 };
        let text = r#"{"state":"STOP","time":5,"from":null,"reason":"x é","ok":false,"seq":3}"#;
        assert_eq!(serde_json::to_string(&c).unwrap(), text);
        assert_eq!(Current::parse(text.as_bytes()).unwrap(), c);
        // `from` missing, unknown fields: still read.
        let old = r#"{"state":"MASTER","time":5,"reason":"","ok":true,"seq":3,"new":1}"#;
        assert_eq!(Current::parse(old.as_bytes()).unwrap().from, None);
        assert!(Desired::parse(br#"{"seq":1,"state":"BACKUP","pid":4294967296,"time":0}"#).is_err());
    }
}
