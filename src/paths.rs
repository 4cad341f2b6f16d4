//! Every path muros-ha touches, under one root.
//!
//! `--root DIR` prefixes *all* of them so that a lab router (or a test) is just a
//! directory; on a router the root is `/`.

use std::path::{Path, PathBuf};

/// The same path, byte for byte. Our paths are all built by [`Paths`], so their bytes
/// are their identity; `Path`'s own `==` compares component by component (≈0.6 KB on
/// MIPS) to also equate `a//b` and `a/b/`.
pub fn same(a: &Path, b: &Path) -> bool {
    a.as_os_str() == b.as_os_str()
}

/// Name of our UCI package (`/etc/config/muros_ha`).
pub const UCI_PACKAGE: &str = "muros_ha";

/// The fw4 snippet as the router names it: the `path` of our `config include` in
/// `/etc/config/firewall` (fw4 reads it at the real root, whatever `--root` is).
pub const FW4_SNIPPET: &str = "/etc/muros-ha/fw4-input.nft";
/// The `config include` section we own in `/etc/config/firewall`.
pub const FW4_INCLUDE_SECTION: &str = "muros_ha";
/// The static WAN's NAT to the VIP, included at the top of fw4's `srcnat` chain.
pub const FW4_SRCNAT_SNIPPET: &str = "/etc/muros-ha/fw4-srcnat.nft";
/// Its `config include` section (only while a static WAN is configured).
pub const FW4_SRCNAT_SECTION: &str = "muros_ha_srcnat";

/// netifd's resolver file (the DNS servers of the interfaces that are up), as the target
/// of the `/tmp/resolv.conf` link, relative so that it stays under any `--root`.
pub const RESOLV_CONF_AUTO: &str = "resolv.conf.d/resolv.conf.auto";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    root: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths::new("/")
    }
}

impl Paths {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Paths { root: root.into() }
    }

    /// The root as given (`/` on a router).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when the root is `/`, i.e. we run on a real router.
    pub fn is_system_root(&self) -> bool {
        self.root == Path::new("/")
    }

    /// `abs` (an absolute router path such as `/etc/config`) under the root.
    pub fn join(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    pub fn config_dir(&self) -> PathBuf {
        self.join("/etc/config")
    }
    pub fn uci_file(&self, package: &str) -> PathBuf {
        self.config_dir().join(package)
    }
    /// uci's pending-change directories (`/tmp/.uci` savedir, `/var/run/uci` overrides).
    pub fn uci_savedir(&self) -> PathBuf {
        self.join("/tmp/.uci")
    }
    pub fn uci_override_dir(&self) -> PathBuf {
        self.join("/var/run/uci")
    }
    pub fn keepalived_conf(&self) -> PathBuf {
        self.join("/etc/keepalived/keepalived.conf")
    }
    pub fn conntrackd_conf(&self) -> PathBuf {
        self.join("/etc/conntrackd/conntrackd.conf")
    }
    /// The fw4 snippet. fw4 auto-includes only `/usr/share/nftables.d`, which belongs
    /// to installed packages; a generated file lives in our own persistent directory
    /// (there at boot, before muros-ha starts) and `/etc/config/firewall` includes it.
    pub fn firewall_snippet(&self) -> PathBuf {
        self.join(FW4_SNIPPET)
    }
    /// The static WAN's srcnat snippet (see [`FW4_SRCNAT_SNIPPET`]).
    pub fn srcnat_snippet(&self) -> PathBuf {
        self.join(FW4_SRCNAT_SNIPPET)
    }
    /// Where releases up to 0.1.0 rendered the snippet; `render` removes it.
    pub fn legacy_firewall_snippet(&self) -> PathBuf {
        self.join("/usr/share/nftables.d/chain-pre/input/30-muros-ha.nft")
    }
    pub fn sysupgrade_conf(&self) -> PathBuf {
        self.join("/etc/sysupgrade.conf")
    }
    pub fn keep_d(&self) -> PathBuf {
        self.join("/lib/upgrade/keep.d/muros-ha")
    }
    pub fn init_script(&self, service: &str) -> PathBuf {
        self.join("/etc/init.d").join(service)
    }
    pub fn ubus_socket(&self) -> PathBuf {
        self.join("/var/run/ubus/ubus.sock")
    }
    pub fn conntrackd_ctl(&self) -> PathBuf {
        self.join("/var/run/conntrackd.ctl")
    }
    pub fn conntrackd_lock(&self) -> PathBuf {
        self.join("/var/lock/conntrackd.lock")
    }
    /// Runtime state: the transition lock, last state, history spool.
    pub fn state_dir(&self) -> PathBuf {
        self.join("/var/run/muros-ha")
    }
    pub fn transition_lock(&self) -> PathBuf {
        self.state_dir().join("transition.lock")
    }
    /// keepalived's `track_file` for the fence: `1` puts every instance into FAULT
    /// (written by the daemon's split-brain watch), `0` lets VRRP decide.
    pub fn fence_file(&self) -> PathBuf {
        self.state_dir().join("fence")
    }
    /// The upstream demotion (issue 17): 1 while this router's upstream failed and it
    /// must not take the master back; keepalived lowers every instance to priority 1.
    pub fn upstream_file(&self) -> PathBuf {
        self.state_dir().join("upstream")
    }
    /// The handover boost (issue 16): the points that lift this router to priority 254
    /// while it takes over a planned handover, 0 otherwise.
    pub fn boost_file(&self) -> PathBuf {
        self.state_dir().join("boost")
    }
    /// Why the fence is up (one line), for the notify hook's history record.
    pub fn fence_reason(&self) -> PathBuf {
        self.state_dir().join("fence.reason")
    }
    /// keepalived's notify_fifo, read by the daemon.
    pub fn notify_fifo(&self) -> PathBuf {
        self.state_dir().join("notify.fifo")
    }
    pub fn keepalived_pid(&self) -> PathBuf {
        self.join("/var/run/keepalived.pid")
    }
    /// The resolver file the router's own programs read (`/etc/resolv.conf` links here
    /// on OpenWrt). dnsmasq's init script owns it: it writes `nameserver 127.0.0.1` at
    /// start and links it back to [`RESOLV_CONF_AUTO`] at stop.
    pub fn resolv_conf(&self) -> PathBuf {
        self.join("/tmp/resolv.conf")
    }
    /// Persistent node state (keys, last lease) that must survive a reboot.
    pub fn persist_dir(&self) -> PathBuf {
        self.join("/etc/muros-ha")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_stays_under_the_root() {
        let p = Paths::new("/tmp/lab/ra");
        for path in [
            p.keepalived_conf(),
            p.conntrackd_conf(),
            p.firewall_snippet(),
            p.legacy_firewall_snippet(),
            p.ubus_socket(),
            p.init_script("dnsmasq"),
            p.uci_file("network"),
            p.resolv_conf(),
        ] {
            assert!(path.starts_with("/tmp/lab/ra/"), "{}", path.display());
        }
        assert_eq!(Paths::default().keepalived_conf(), PathBuf::from("/etc/keepalived/keepalived.conf"));
    }

    #[test]
    fn the_fw4_snippet_is_ours_under_etc_not_a_package_directory() {
        let p = Paths::default();
        assert_eq!(p.firewall_snippet(), PathBuf::from(FW4_SNIPPET));
        assert!(p.firewall_snippet().starts_with(p.persist_dir()), "sysupgrade keeps /etc/muros-ha/");
        assert!(!p.firewall_snippet().starts_with("/usr/share"));
        assert_ne!(p.firewall_snippet(), p.legacy_firewall_snippet());
    }
}
