//! The conntrackd sync link, from the `sync_*` and `peer_ip` options of `config global`.

use super::{Checker, DEFAULT_SYNC_GROUP, DEFAULT_SYNC_PORT};
use crate::model::network::resolve_interface;
use crate::model::types::{Interface, SyncLink, SyncMode};
use crate::uci::{Package, Section};
use std::net::{IpAddr, Ipv4Addr};

/// The sync link as far as it could be read; VIPs and the WAN are checked against its
/// interface before it becomes a [`SyncLink`].
pub(super) struct Draft {
    pub mode: SyncMode,
    port: u16,
    multicast_group: Ipv4Addr,
    peer_ip: Option<IpAddr>,
    pub interface: Option<Interface>,
    local_v4: Option<Ipv4Addr>,
}

impl Draft {
    /// `None` when the interface did not resolve (an error is recorded then).
    pub fn into_link(self) -> Option<SyncLink> {
        let Draft { mode, port, multicast_group, peer_ip, interface, local_v4 } = self;
        interface.map(|interface| SyncLink { interface, mode, port, multicast_group, local_address: local_v4, peer_ip })
    }
}

pub(super) fn link(c: &mut Checker, g: &Section, network: &Package) -> Draft {
    let mode = match g.get("sync_mode") {
        None | Some("multicast") => SyncMode::Multicast,
        Some("unicast") => SyncMode::Unicast,
        Some(m) => {
            c.err(g, Some("sync_mode"), format!("unknown sync mode '{}'", m), Some("multicast, unicast"));
            SyncMode::Multicast
        }
    };
    let port = if g.get("sync_port").is_some() { c.int_opt(g, "sync_port", 1, 65535).map_or(DEFAULT_SYNC_PORT, |p| p as u16) } else { DEFAULT_SYNC_PORT };
    let multicast_group = multicast_group(c, g);
    let peer_ip = peer_ip(c, g);
    let interface = interface(c, g, network);
    let local_v4 = local_v4(c, g, interface.as_ref());
    check_peer(c, g, mode, peer_ip, interface.as_ref());
    Draft { mode, port, multicast_group, peer_ip, interface, local_v4 }
}

fn multicast_group(c: &mut Checker, g: &Section) -> Ipv4Addr {
    let Some(v) = g.get("sync_group") else {
        return DEFAULT_SYNC_GROUP;
    };
    match v.parse::<Ipv4Addr>() {
        Ok(a) if a.is_multicast() => a,
        _ => {
            c.err(g, Some("sync_group"), format!("'{}' is not an IPv4 multicast address", v), Some("224.0.0.0/4, e.g. 225.0.0.50"));
            DEFAULT_SYNC_GROUP
        }
    }
}

fn peer_ip(c: &mut Checker, g: &Section) -> Option<IpAddr> {
    match g.get("peer_ip") {
        None | Some("") => None,
        Some(v) => match v.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                c.err(g, Some("peer_ip"), format!("'{}' is not an IP address", v), Some("an IPv4 or IPv6 address"));
                None
            }
        },
    }
}

fn interface(c: &mut Checker, g: &Section, network: &Package) -> Option<Interface> {
    match g.get("sync_interface") {
        None | Some("") => {
            c.err(g, Some("sync_interface"), "sync interface is not set", Some("a logical interface from /etc/config/network"));
            None
        }
        Some(l) => match resolve_interface(network, l) {
            Ok(i) => Some(i),
            Err(e) => {
                c.err(g, Some("sync_interface"), e, None);
                None
            }
        },
    }
}

/// The address conntrackd binds to: the first static IPv4 one on the sync interface.
fn local_v4(c: &mut Checker, g: &Section, interface: Option<&Interface>) -> Option<Ipv4Addr> {
    let i = interface?;
    let local = i.addresses.iter().find_map(|n| match n.addr {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    });
    if local.is_none() {
        c.err(g, Some("sync_interface"), format!("interface '{}' has no static IPv4 address; conntrackd needs one on the sync link", i.logical), Some("proto static with ipaddr in /etc/config/network"));
    }
    local
}

fn check_peer(c: &mut Checker, g: &Section, mode: SyncMode, peer_ip: Option<IpAddr>, interface: Option<&Interface>) {
    match (mode, peer_ip) {
        (SyncMode::Unicast, None) => c.err(g, Some("peer_ip"), "unicast sync needs the peer's address", Some("the peer's IPv4 address on the sync link")),
        (SyncMode::Unicast, Some(IpAddr::V6(_))) => c.err(g, Some("peer_ip"), "unicast conntrackd sync is IPv4 only here", Some("an IPv4 address")),
        _ => {}
    }
    if let (Some(p), Some(i)) = (peer_ip, interface) {
        if i.addresses.iter().any(|n| n.addr == p) {
            c.err(g, Some("peer_ip"), format!("{} is this router's own address on '{}'", p, i.logical), Some("the other router's address"));
        }
    }
}
