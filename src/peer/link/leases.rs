//! The DHCP lease file: the leader sends it on connect and whenever it changes in the
//! watched `/tmp`; a follower writes what it receives over its own lease file. The one
//! place lease handling lives.

use super::Link;
use crate::peer::message::Message;

const LEASES_DEFAULT: &str = "/tmp/dhcp.leases";

impl Link {
    fn lease_path(&self) -> std::path::PathBuf {
        let from_dhcp = crate::uci::load_package(&self.paths, "dhcp").ok().and_then(|(p, _)| p.sections_of_type("dnsmasq").next().and_then(|s| s.get("leasefile")).map(str::to_string));
        self.paths.join(from_dhcp.as_deref().unwrap_or(LEASES_DEFAULT))
    }

    pub(super) fn lease_file_name(&self) -> Option<String> {
        let p = self.lease_path();
        // Only leases in the watched /tmp are streamed on change.
        p.parent().is_some_and(|d| crate::paths::same(d, &self.paths.join("/tmp"))).then(|| p.file_name().map(|n| n.to_string_lossy().into_owned())).flatten()
    }

    pub(super) fn send_leases(&mut self) {
        if let Ok(text) = crate::fsutil::read_to_string(self.lease_path()) {
            self.send(&Message::Leases { text });
        }
    }

    pub(super) fn apply_leases(&mut self, text: &str) {
        if self.leading() {
            return;
        }
        let path = self.lease_path();
        match crate::fsutil::replace_if_changed(&path, text.as_bytes(), 0o644) {
            Ok(_) => self.shared.lock().leases_received += 1,
            Err(e) => log::warn!("peer link: writing {}: {}", path.display(), e),
        }
    }
}
