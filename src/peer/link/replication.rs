//! Config replication: the leader pushes each replicated UCI package when it changes
//! (inotify on the config dir) or when the peer's heartbeat carries another digest; a
//! follower merges what it receives (exclusions kept local), writes it and reloads the
//! service, unless the package was edited locally since the last replication (drift).
//! What the follower last took is kept in the replica file ([`Applied`]).

use super::Link;
use crate::failover::state;
use crate::paths::Paths;
use crate::peer::message::Message;
use crate::peer::replicate;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

/// Digests of what the follower last took from the leader. On flash beside the key
/// (written only when a replicated package changes), so a reboot does not turn a local
/// edit made before it into a silent overwrite.
const REPLICA_FILE: &str = "/etc/muros-ha/peer-replica.json";

impl Link {
    pub(super) fn setup_inotify(&mut self) {
        let ino = match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            Ok(i) => i,
            Err(e) => {
                log::error!("peer link: inotify unavailable ({}); config changes will not replicate", std::io::Error::from(e));
                return;
            }
        };
        let flags = AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_DELETE;
        let state_dir = self.paths.state_dir();
        let _ = crate::fsutil::create_dirs(&state_dir);
        let dirs = [self.paths.config_dir(), state_dir, self.paths.join("/tmp")];
        for (slot, dir) in self.watches.0.iter_mut().zip(dirs) {
            match ino.add_watch(&dir, flags) {
                Ok(wd) => *slot = Some(wd),
                Err(e) => log::warn!("peer link: cannot watch {}: {}", dir.display(), std::io::Error::from(e)),
            }
        }
        self.inotify = Some(ino);
    }

    pub(super) fn on_inotify(&mut self) {
        let Some(ino) = &self.inotify else { return };
        let mut events: Vec<(Dir, String)> = Vec::new();
        for _ in 0..64 {
            match ino.read_events() {
                Ok(evs) if !evs.is_empty() => {
                    events.extend(evs.into_iter().filter_map(|e| Some((self.watches.dir(e.wd)?, e.name?.to_string_lossy().into_owned()))));
                }
                _ => break,
            }
        }
        crate::sort_small(&mut events, |a, b| a < b);
        events.dedup();
        let leases = self.lease_file_name();
        for (dir, n) in events {
            match dir {
                // /etc/config: only root writes there.
                Dir::Config if n == crate::paths::UCI_PACKAGE => self.reload(),
                Dir::Config if self.settings.as_ref().is_some_and(|s| s.link.replicate.contains(&n)) => self.on_package_changed(&n),
                // A VRRP transition: tell the peer now, not at the next tick.
                Dir::State if n == "current" && self.link_up() => self.send_heartbeat(),
                // /tmp is world-writable: only the lease file means anything there.
                Dir::Tmp if Some(&n) == leases.as_ref() && self.leading() => self.send_leases(),
                _ => {}
            }
        }
    }

    fn on_package_changed(&mut self, name: &str) {
        let digest = self.package_digest(name);
        let combined = self.local_digest();
        self.shared.lock().local_digest = combined.clone();
        if self.leading() {
            // What the leader holds is the reference: if this node follows again later,
            // its own edits made while leading are not drift.
            self.applied.insert(name.to_string(), digest);
            self.save_applied();
            self.pushed = Some(combined);
            self.push_package(name);
        } else if let Some(d) = self.applied.get(name) {
            let drift = d != digest;
            if drift {
                log::warn!("peer link: {} changed locally on the backup; reported as drift (the master's next push will not overwrite it)", name);
            }
            self.set_drift(name, drift);
        }
    }

    fn package_text(&self, name: &str) -> Option<String> {
        crate::fsutil::read_to_string(self.paths.uci_file(name)).ok()
    }

    fn package_digest(&self, name: &str) -> String {
        let excl = self.settings.as_ref().map(|s| replicate::for_package(name, &s.link.exclude)).unwrap_or_default();
        let vpns = self.settings.as_ref().map(|s| s.link.vpns.as_slice()).unwrap_or_default();
        replicate::package_digest(self.package_text(name).as_deref(), name, &excl, vpns)
    }

    pub(super) fn local_digest(&self) -> String {
        let Some(s) = &self.settings else { return String::new() };
        let mut parts: Vec<(String, String)> = s.link.replicate.iter().map(|p| (p.clone(), self.package_digest(p))).collect();
        parts.extend(self.file_digests());
        replicate::combined_digest(&parts)
    }

    /// Leader: the peer's heartbeat carried another digest (`mismatch`): push every
    /// replicated package, once per digest of ours on this connection.
    pub(super) fn resync(&mut self, mismatch: bool) {
        let digest = self.shared.lock().local_digest.clone();
        if mismatch && self.leading() && self.pushed.as_deref() != Some(digest.as_str()) {
            self.pushed = Some(digest);
            let (names, files) = self.settings.as_ref().map(|s| (s.link.replicate.clone(), s.link.files.clone())).unwrap_or_default();
            for n in names {
                self.push_package(&n);
            }
            for f in files {
                self.push_file(&f);
            }
        }
    }

    fn push_package(&mut self, name: &str) {
        if !self.link_up() {
            // Nothing to send to; the digests are compared again after the reconnect.
            return;
        }
        match self.package_text(name) {
            Some(text) => {
                log::info!("peer link: pushing {} to the peer", name);
                self.send(&Message::Package { name: name.to_string(), text });
            }
            None => log::warn!("peer link: {} is listed in replicate but {} does not exist", name, self.paths.uci_file(name).display()),
        }
    }

    pub(super) fn apply_package(&mut self, name: &str, text: &str) {
        let Some(s) = self.settings.as_ref() else { return };
        if !s.link.replicate.iter().any(|p| p == name) {
            log::warn!("peer link: the peer sent package '{}' which we do not replicate; ignored", name);
            return;
        }
        if self.leading() {
            log::warn!("peer link: the peer pushed {} while this node leads; ignored (never both ways)", name);
            return;
        }
        let excl = replicate::for_package(name, &s.link.exclude);
        let path = self.paths.uci_file(name);
        let local = self.package_text(name);
        let vpns = &s.link.vpns;
        let local_digest = replicate::package_digest(local.as_deref(), name, &excl, vpns);
        let merged = match replicate::merge(text, local.as_deref(), name, &excl, vpns) {
            Ok(m) => m,
            Err(e) => {
                self.shared.lock().rx_rejected.malformed += 1;
                return log::warn!("peer link: refusing {} from the peer: {}", name, e);
            }
        };
        self.set_refused(name, merged.refused);
        let merged = merged.text;
        let incoming = replicate::package_digest(Some(&merged), name, &excl, vpns);
        let drifted = self.applied.get(name).is_some_and(|d| d != local_digest) && local_digest != incoming;
        if drifted {
            self.set_drift(name, true);
            return log::warn!("peer link: {} was changed on this node since the last replication; not overwriting it (revert the local change or make it on the master)", name);
        }
        let mode = std::fs::metadata(&path).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777).unwrap_or(0o644);
        // What comes of `network` is a tunnel's private key: root's alone from now on.
        let mode = if name == "network" { mode & 0o600 } else { mode };
        match crate::fsutil::replace_if_changed(&path, merged.as_bytes(), mode) {
            Ok(outcome) => {
                self.applied.insert(name.to_string(), incoming);
                self.save_applied();
                self.set_drift(name, false);
                {
                    let mut v = self.shared.lock();
                    v.applied += 1;
                    v.last_applied = Some(state::now_secs());
                }
                if outcome == crate::fsutil::Outcome::Unchanged {
                    return;
                }
                log::info!("peer link: {} updated from the peer", name);
                self.queue_reload(name);
            }
            Err(e) => log::error!("peer link: writing {}: {}", path.display(), e),
        }
        let d = self.local_digest();
        self.shared.lock().local_digest = d;
    }


    fn save_applied(&self) {
        // The entries are sorted and unique, so the object's keys come out in that order.
        let map: std::collections::BTreeMap<&str, &str> = self.applied.0.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if let Ok(text) = crate::to_json_bytes(&map) {
            let _ = crate::fsutil::replace_if_changed(&self.paths.join(REPLICA_FILE), &text, 0o644);
        }
    }

    /// The items of `package` the peer sent and this node did not take (policy), for
    /// `status.peer.refused`; logged when the list changes.
    fn set_refused(&self, package: &str, items: Vec<String>) {
        let mut v = self.shared.lock();
        let prefix = format!("{}.", package);
        let before: Vec<String> = v.refused.iter().filter(|r| r.starts_with(&prefix)).cloned().collect();
        if before == items {
            return;
        }
        v.refused.retain(|r| !r.starts_with(&prefix));
        v.refused.extend(items.iter().cloned());
        drop(v);
        if !items.is_empty() {
            let m = format!("refused from the peer (runs a program, names a file or is not on the allow-list; this node's own value kept): {}", items.join(", "));
            log::warn!("peer link: {}", m);
            crate::failover::history::append_event(&self.paths, "refused", &m);
        }
    }

    fn set_drift(&self, name: &str, on: bool) {
        let mut v = self.shared.lock();
        let had = v.drift.iter().any(|d| d == name);
        if on && !had {
            v.drift.push(name.to_string());
        } else if !on && had {
            v.drift.retain(|d| d != name);
        } else {
            return;
        }
        drop(v);
        self.main_wake.wake();
    }
}

/// The three watched directories, in [`Link::setup_inotify`]'s order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    Config,
    State,
    Tmp,
}

/// The inotify watch descriptor of each watched directory ([`Dir`] order).
#[derive(Default)]
pub(super) struct Watches([Option<WatchDescriptor>; 3]);

impl Watches {
    fn dir(&self, wd: WatchDescriptor) -> Option<Dir> {
        let i = self.0.iter().position(|w| *w == Some(wd))?;
        [Dir::Config, Dir::State, Dir::Tmp].get(i).copied()
    }
}

/// What the follower last took from the leader, as read from [`REPLICA_FILE`] (empty when
/// there is none or it does not parse).
pub(super) fn load_applied(paths: &Paths) -> Applied {
    crate::fsutil::read(paths.join(REPLICA_FILE)).ok().and_then(|b| parse_applied(&b)).unwrap_or_default()
}

/// The replica file: `{"package": "digest", …}`.
fn parse_applied(bytes: &[u8]) -> Option<Applied> {
    let mut out = Applied::default();
    let map: std::collections::BTreeMap<String, String> = serde_json::from_slice(bytes).ok()?;
    for (k, v) in map {
        out.insert(k, v);
    }
    Some(out)
}

/// package → digest, sorted by package (a handful of entries: a sorted Vec is much
/// smaller code than a `BTreeMap<String, String>`).
#[derive(Default)]
pub(super) struct Applied(Vec<(String, String)>);

impl Applied {
    fn get(&self, name: &str) -> Option<&str> {
        let i = self.0.binary_search_by(|(k, _)| k.as_str().cmp(name)).ok()?;
        Some(&self.0[i].1)
    }

    fn insert(&mut self, name: String, digest: String) {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&name)) {
            Ok(i) => self.0[i].1 = digest,
            Err(i) => self.0.insert(i, (name, digest)),
        }
    }
}
