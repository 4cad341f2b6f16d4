//! The DHCP lease file: the leader sends it on connect and whenever it changes in the
//! watched `/tmp`; a follower writes the well-formed lines it receives over its own lease
//! file. The one place lease handling lives; the rules are in [`crate::peer::leases`].

use super::Link;
use crate::peer::leases;
use crate::peer::message::Message;
use std::path::PathBuf;

impl Link {
    /// This node's lease file, from its own `dhcp` config (`leasefile` never comes from
    /// the peer: replication keeps it local), refused unless it is directly in `/tmp`.
    fn lease_path(&self) -> Result<PathBuf, String> {
        let dhcp = crate::uci::load_package(&self.paths, "dhcp").ok();
        let own = dhcp.as_ref().and_then(|(p, _)| p.sections_of_type("dnsmasq").next().and_then(|s| s.get("leasefile")));
        leases::checked_path(own).map(|p| self.paths.join(p))
    }

    pub(super) fn lease_file_name(&self) -> Option<String> {
        let p = self.lease_path().ok()?;
        p.file_name().map(|n| n.to_string_lossy().into_owned())
    }

    pub(super) fn send_leases(&mut self) {
        let Ok(path) = self.lease_path() else { return };
        if let Ok(text) = crate::fsutil::read_to_string(path) {
            self.send(&Message::Leases { text });
        }
    }

    pub(super) fn apply_leases(&mut self, text: &str) {
        if self.leading() {
            return;
        }
        let path = match self.lease_path() {
            Ok(p) => p,
            Err(e) => return self.note_error(e),
        };
        let (good, dropped) = leases::filter(text);
        if dropped > 0 {
            // The count only: the lines are the peer's text and may be built to mislead a log reader.
            log::warn!("peer link: dropped {} malformed lease line(s) from the peer", dropped);
            self.shared.lock().leases_dropped += dropped as u64;
        }
        match crate::fsutil::replace_if_changed(&path, good.as_bytes(), 0o644) {
            Ok(_) => self.shared.lock().leases_received += 1,
            Err(e) => log::warn!("peer link: writing {}: {}", path.display(), e),
        }
    }
}
