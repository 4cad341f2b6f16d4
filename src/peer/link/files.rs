//! `replicate_file`: the certificates and keys a VPN service needs, outside UCI.
//!
//! The leader looks at its listed files before each heartbeat and sends one that changed
//! (bytes, permission bits, owner, group), and all of them when the peer's digest
//! differs. A follower writes a file only to a path of its *own* list, which `check`
//! confined to [`crate::model::peer::FILE_DIRS`]: what the peer sends is data, its path
//! only says which of our files it is. The files count in the replication digest, so
//! `in_sync` covers them.

use super::Link;
use crate::model::peer::{base64_decode, base64_encode, MAX_FILE};
use crate::peer::message::Message;
use crate::peer::replicate;

impl Link {
    fn read_file(&self, path: &str) -> Option<(Vec<u8>, u32, u32, u32)> {
        crate::fsutil::read_regular(&self.paths.join(path), MAX_FILE)
    }

    /// `(path, digest)` of every listed file, in list order.
    pub(super) fn file_digests(&self) -> Vec<(String, String)> {
        let files = self.settings.as_ref().map(|s| s.link.files.as_slice()).unwrap_or_default();
        files.iter().map(|f| (format!("file {}", f), replicate::file_digest(self.read_file(f).as_ref()))).collect()
    }

    /// Before each heartbeat: a listed file that changed since the last look moves the
    /// digest, and the leader sends it.
    pub(super) fn check_files(&mut self) {
        let now = self.file_digests();
        if now == self.files_seen {
            return;
        }
        let changed: Vec<String> = now.iter().filter(|x| !self.files_seen.contains(x)).map(|(f, _)| f["file ".len()..].to_string()).collect();
        self.files_seen = now;
        let combined = self.local_digest();
        self.shared.lock().local_digest = combined.clone();
        if self.leading() {
            self.pushed = Some(combined);
            for f in changed {
                self.push_file(&f);
            }
        }
    }

    pub(super) fn push_file(&mut self, path: &str) {
        if !self.link_up() {
            return;
        }
        match self.read_file(path) {
            Some((bytes, mode, uid, gid)) => {
                log::info!("peer link: pushing {} to the peer", path);
                self.send(&Message::File { path: path.to_string(), mode, uid, gid, data: base64_encode(&bytes) });
            }
            None => log::warn!("peer link: {} is listed in replicate_file but is missing, not a regular file, or over {} bytes", path, MAX_FILE),
        }
    }

    pub(super) fn apply_file(&mut self, path: &str, mode: u32, uid: u32, gid: u32, data: &str) {
        let listed = self.settings.as_ref().is_some_and(|s| s.link.files.iter().any(|f| f == path));
        if !listed {
            let item = format!("file {}", path.escape_debug());
            log::warn!("peer link: the peer sent {}, which is not in our replicate_file list; ignored", item);
            let mut v = self.shared.lock();
            if !v.refused.contains(&item) && v.refused.len() < 64 {
                v.refused.push(item);
            }
            return;
        }
        if self.leading() {
            return log::warn!("peer link: the peer pushed {} while this node leads; ignored (never both ways)", path);
        }
        let Some(bytes) = base64_decode(data).filter(|b| b.len() <= MAX_FILE) else {
            self.shared.lock().rx_rejected.malformed += 1;
            return log::warn!("peer link: refusing {} from the peer: not base64, or over {} bytes", path, MAX_FILE);
        };
        let target = self.paths.join(path);
        // Permission bits only: never set-id or sticky bits from the peer.
        let written = target.parent().map_or(Ok(()), crate::fsutil::create_dirs).and_then(|()| crate::fsutil::replace_if_changed(&target, &bytes, mode & 0o777));
        match written.and_then(|outcome| std::os::unix::fs::lchown(&target, Some(uid), Some(gid)).map(|()| outcome)) {
            Ok(crate::fsutil::Outcome::Unchanged) => {}
            Ok(crate::fsutil::Outcome::Written) => {
                log::info!("peer link: {} updated from the peer", path);
                let mut v = self.shared.lock();
                v.applied += 1;
                v.last_applied = Some(crate::failover::state::now_secs());
            }
            Err(e) => return log::error!("peer link: writing {}: {}", target.display(), e),
        }
        self.check_files();
    }
}
