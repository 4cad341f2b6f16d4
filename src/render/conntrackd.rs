//! `conntrackd.conf` for conntrack-tools 1.4.x: FTFW on the sync link.
//!
//! FTFW keeps an external cache (`DisableExternalCache Off`): the backup holds the
//! master's states in user space and the notify hook commits them into the kernel on
//! takeover (`conntrackd -c`), which is what lets established flows survive.

use super::Text;
use crate::model::{Config, IpNet, SyncMode};
use crate::paths::Paths;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Fixed timeout (s) of committed entries: long enough that an idle SSH session
/// without keepalives is still there when its next packet arrives after a takeover.
const COMMIT_TIMEOUT_S: u32 = 1800;
/// After `conntrackd -t` (going backup) the kernel table is flushed this soon, so
/// zombie entries cannot clash with the new master's during quick back-and-forth.
const PURGE_TIMEOUT_S: u32 = 5;
/// Socket buffers as in conntrack-tools' FTFW example: room for a burst of events.
const SOCKET_BUFFER: u32 = 1_249_280;

/// The whole conntrackd.conf; per-root lock file and control socket from `paths`.
pub fn render(cfg: &Config, paths: &Paths) -> String {
    let mut t = Text::new();
    let sync = &cfg.sync;
    let local_v4 = sync.local_address.or_else(|| first_v4(&sync.interface.addresses));

    t.open("Sync");
    t.open("Mode FTFW");
    t.line("DisableExternalCache Off");
    t.line(format!("CommitTimeout {}", COMMIT_TIMEOUT_S));
    t.line(format!("PurgeTimeout {}", PURGE_TIMEOUT_S));
    t.line("# A restarted node asks the peer for its table once, instead of waiting for events.");
    t.line("StartupResync on");
    t.close();
    match sync.mode {
        SyncMode::Multicast => {
            t.open("Multicast");
            t.line(format!("IPv4_address {}", sync.multicast_group));
            // conntrackd names the UDP port of the multicast channel `Group`.
            t.line(format!("Group {}", sync.port));
            match local_v4 {
                Some(a) => t.line(format!("IPv4_interface {}", a)),
                None => t.line("# No own IPv4 address on the sync link: conntrackd will not start."),
            }
            channel_tail(&mut t, &sync.interface.device);
            t.close();
        }
        SyncMode::Unicast => {
            t.open("UDP");
            match sync.peer_ip {
                Some(IpAddr::V6(peer)) => {
                    match first_v6(&sync.interface.addresses) {
                        Some(a) => t.line(format!("IPv6_address {}", a)),
                        None => t.line("# No own IPv6 address on the sync link: conntrackd will not start."),
                    }
                    t.line(format!("IPv6_Destination_Address {}", peer));
                }
                Some(IpAddr::V4(peer)) => {
                    if let Some(a) = local_v4 {
                        t.line(format!("IPv4_address {}", a));
                    }
                    t.line(format!("IPv4_Destination_Address {}", peer));
                }
                None => t.line("# No peer_ip: conntrackd has nobody to send to."),
            }
            t.line(format!("Port {}", sync.port));
            channel_tail(&mut t, &sync.interface.device);
            t.close();
        }
    }
    t.close();

    t.blank();
    t.open("General");
    t.line("HashSize 32768");
    t.line("HashLimit 131072");
    // OpenWrt's /var/log is RAM and its flash must not take a log stream; logd has it.
    t.line("LogFile off");
    t.line("Syslog on");
    t.line(format!("LockFile {}", paths.conntrackd_lock().display()));
    t.open("UNIX");
    t.line(format!("Path {}", paths.conntrackd_ctl().display()));
    t.close();
    t.line("NetlinkBufferSize 2097152");
    t.line("NetlinkBufferSizeMaxGrowth 8388608");
    t.open("Filter From Userspace");
    t.open("Protocol Accept");
    for p in ["TCP", "UDP", "ICMP", "IPv6-ICMP"] {
        t.line(p);
    }
    t.close();
    t.line("# Traffic to and from the routers themselves is not worth replicating: only");
    t.line("# forwarded flows move to the new master.");
    t.open("Address Ignore");
    for entry in ignored_addresses(cfg) {
        t.line(entry);
    }
    t.close();
    t.close();
    t.close();
    t.finish()
}

/// The lines every sync channel shares.
fn channel_tail(t: &mut Text, device: &str) {
    t.line(format!("Interface {}", device));
    t.line(format!("SndSocketBuffer {}", SOCKET_BUFFER));
    t.line(format!("RcvSocketBuffer {}", SOCKET_BUFFER));
    t.line("Checksum on");
}

/// `Address Ignore` lines, grouped under comments, each address once (first place wins).
fn ignored_addresses(cfg: &Config) -> Vec<String> {
    let mut list = IgnoreList::default();
    list.group("loopback".into(), [Entry::Host(Ipv4Addr::LOCALHOST.into()), Entry::Host(Ipv6Addr::LOCALHOST.into())]);
    for vip in &cfg.vips {
        let own = vip.interface.addresses.iter().filter(|n| n.addr != vip.address.addr).map(|n| Entry::Host(n.addr));
        list.group(format!("this router on {} ({})", vip.interface.logical, vip.interface.device), own);
        list.group(format!("the peer on {}", vip.interface.logical), vip.peer_address.map(Entry::Host));
    }
    let sync = &cfg.sync;
    let link = sync
        .interface
        .addresses
        .iter()
        .map(|n| Entry::Net(n.network()))
        .chain(sync.local_address.map(|a| Entry::Host(a.into())))
        .chain(sync.interface.addresses.iter().map(|n| Entry::Host(n.addr)))
        .chain(sync.peer_ip.map(Entry::Host));
    list.group(
        format!("the sync link {} ({}): its network, this router, the peer", sync.interface.logical, sync.interface.device),
        link,
    );
    list.group("the VIPs".into(), cfg.vips.iter().map(|v| Entry::Host(v.address.addr)));
    list.lines
}

#[derive(Default)]
struct IgnoreList {
    lines: Vec<String>,
    seen: Vec<String>,
}

impl IgnoreList {
    /// A comment and the entries not listed yet; nothing at all when none is new.
    fn group(&mut self, comment: String, entries: impl IntoIterator<Item = Entry>) {
        let mut fresh = Vec::new();
        for line in entries.into_iter().map(|e| e.line()) {
            if !self.seen.contains(&line) {
                self.seen.push(line.clone());
                fresh.push(line);
            }
        }
        if !fresh.is_empty() {
            self.lines.push(format!("# {}", comment));
            self.lines.extend(fresh);
        }
    }
}

enum Entry {
    Host(IpAddr),
    Net(IpNet),
}

impl Entry {
    fn line(&self) -> String {
        let (v6, text) = match self {
            Entry::Host(a) => (a.is_ipv6(), a.to_string()),
            // A /32 (or /128) network is just the host.
            Entry::Net(n) if n.prefix == if n.is_ipv6() { 128 } else { 32 } => (n.is_ipv6(), n.addr.to_string()),
            Entry::Net(n) => (n.is_ipv6(), n.to_string()),
        };
        format!("{} {}", if v6 { "IPv6_address" } else { "IPv4_address" }, text)
    }
}

fn first_v4(addrs: &[IpNet]) -> Option<Ipv4Addr> {
    addrs.iter().find_map(|n| match n.addr {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    })
}

/// First global IPv6 address: conntrackd cannot bind a link-local one without a scope.
fn first_v6(addrs: &[IpNet]) -> Option<Ipv6Addr> {
    addrs.iter().find_map(|n| match n.addr {
        IpAddr::V6(a) if (a.segments()[0] & 0xffc0) != 0xfe80 => Some(a),
        _ => None,
    })
}
