//! Small runtime records under `state_dir` (tmpfs on a router): `desired` (the newest
//! state keepalived asked for, with a sequence number) and `current` (the last state
//! applied). Plus the locks that order transitions.

use super::GroupState;
use crate::paths::Paths;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The newest state asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    pub seq: u64,
    pub state: GroupState,
    pub pid: u32,
    pub time: u64,
}

/// The last transition applied (read by the daemon's `status.last_transition`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    pub state: GroupState,
    /// Unix seconds when the plan finished.
    pub time: u64,
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
        fs::create_dir_all(dir)?;
    }
    let tmp = crate::fsutil::temp_path(path);
    let r = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        fs::rename(&tmp, path)
    })();
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
        fs::create_dir_all(dir)?;
    }
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("open {}: {}", path.display(), e)))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| io::Error::other(format!("flock {}: {}", path.display(), e)))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

pub fn read_desired(paths: &Paths) -> Option<Desired> {
    read_json(&desired_path(paths))
}

pub fn read_current(paths: &Paths) -> Option<Current> {
    read_json(&current_path(paths))
}

/// Record `state` as the newest wish and return it with its sequence number. A short
/// lock of its own (held for microseconds, never during a plan) makes the numbers
/// strictly increasing in the order the notify processes got here.
pub fn claim_desired(paths: &Paths, state: GroupState) -> io::Result<Desired> {
    let _guard = lock_exclusive(&desired_lock_path(paths))?;
    let seq = read_desired(paths).map_or(0, |d| d.seq) + 1;
    let d = Desired { seq, state, pid: std::process::id(), time: now_secs() };
    let bytes = serde_json::to_vec(&d).map_err(io::Error::other)?;
    replace_quick(&desired_path(paths), &bytes)?;
    Ok(d)
}

pub fn write_current(paths: &Paths, c: &Current) -> io::Result<()> {
    let bytes = serde_json::to_vec(c).map_err(io::Error::other)?;
    replace_quick(&current_path(paths), &bytes)
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
}
