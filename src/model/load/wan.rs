//! `config wan` (optional, at most one): the shared-MAC macvlan DHCP WAN (`proto
//! 'dhcp'`, the default), or a static WAN VIP (`proto 'static'`: seed `001`'s main case).

use super::{default_wan_device, is_plain_name, parse_mac, Checker};
use crate::model::network::{parse_ipnet, resolve_interface, MAX_IFNAME};
use crate::model::types::{Interface, IpNet, SyncMode, Vip, Wan};
use crate::uci::{Package, Section};
use std::net::{IpAddr, Ipv4Addr};

const WAN_OPTIONS: &[&str] = &["interface", "parent", "macaddr", "device", "proto"];
const STATIC_OPTIONS: &[&str] = &["interface", "proto", "ipaddr", "gateway", "vrid", "peer_address"];
/// The static WAN VIP's VRID when none is set (it sits on its own link).
const DEFAULT_STATIC_VRID: u8 = 10;

/// What `config wan` gives: the macvlan DHCP WAN, or a static WAN VIP (an instance like
/// a `config vip`, with the ISP's gateway).
pub(super) enum WanKind {
    Dhcp(Wan),
    Static(Vip),
}

pub(super) fn wan(c: &mut Checker, sync_interface: Option<&Interface>, sync_mode: SyncMode, network: &Package) -> Option<WanKind> {
    let wans: Vec<&Section> = c.pkg.sections_of_type("wan").collect();
    for extra in wans.iter().skip(1) {
        c.err(extra, None, "more than one 'config wan' section", Some("one WAN"));
    }
    let w = wans.first()?;
    match w.get("proto") {
        None | Some("dhcp") => {}
        Some("static") => return static_wan(c, w, sync_interface, sync_mode, network).map(WanKind::Static),
        Some("pppoe") => {
            c.err(w, Some("proto"), "proto 'pppoe' is not supported by this release", Some("dhcp (shared-MAC macvlan) or static (WAN VIP); README, Known limits, says what happens with PPPoE"));
            return None;
        }
        Some(p) => {
            let p = p.to_string();
            c.err(w, Some("proto"), format!("unknown proto '{}'", p), Some("dhcp, static"));
            return None;
        }
    }
    c.unknown_options(w, WAN_OPTIONS);
    let logical = logical(c, w);
    let parent = parent(c, w);
    let macaddr = macaddr(c, w);
    let device = device(c, w, logical.as_deref());
    if let (Some(d), Some(p)) = (&device, &parent) {
        if d == p {
            c.err(w, Some("device"), format!("the macvlan device cannot be its own parent '{}'", p), None);
        }
    }
    if let (Some(l), Some(si)) = (&logical, sync_interface) {
        if *l == si.logical {
            c.err(w, Some("interface"), "the WAN cannot be the sync interface", None);
        }
    }
    Some(WanKind::Dhcp(Wan { logical: logical?, parent: parent?, device: device?, macaddr: macaddr? }))
}

/// `proto 'static'`: the WAN VIP on the logical interface's device, which must carry
/// this router's own static address in the VIP's subnet (VRRP adverts go from it); the
/// gateway must be in that subnet too.
fn static_wan(c: &mut Checker, w: &Section, sync_interface: Option<&Interface>, sync_mode: SyncMode, network: &Package) -> Option<Vip> {
    c.unknown_options(w, STATIC_OPTIONS);
    let interface = match logical(c, w) {
        Some(l) => match resolve_interface(network, &l) {
            Ok(i) => Some(i),
            Err(e) => {
                c.err(w, Some("interface"), e, None);
                None
            }
        },
        None => None,
    };
    if let (Some(i), Some(si)) = (&interface, sync_interface) {
        if i.logical == si.logical || i.device == si.device {
            c.err(w, Some("interface"), "the WAN cannot be the sync interface", None);
        }
    }
    let address = match w.get("ipaddr") {
        None => {
            c.err(w, Some("ipaddr"), "a static WAN needs its VIP", Some("the public address with prefix that moves with the master, e.g. 203.0.113.10/24"));
            None
        }
        Some(a) => match parse_ipnet(a, 32) {
            Some(n) if n.addr.is_ipv4() && a.contains('/') && n.prefix >= 1 => Some(n),
            _ => {
                c.err(w, Some("ipaddr"), format!("'{}' is not an IPv4 address with prefix", a), Some("the public address that moves with the master, e.g. 203.0.113.10/24"));
                None
            }
        },
    };
    let gateway = match w.get("gateway").map(|g| (g, g.parse::<Ipv4Addr>())) {
        None => {
            c.err(w, Some("gateway"), "a static WAN needs the ISP's gateway", Some("an IPv4 address in the VIP's subnet"));
            None
        }
        Some((_, Ok(g))) => Some(g),
        Some((g, Err(_))) => {
            c.err(w, Some("gateway"), format!("'{}' is not an IPv4 address", g), Some("the ISP's gateway, in the VIP's subnet"));
            None
        }
    };
    if let (Some(a), Some(g)) = (address, gateway) {
        if !a.contains(IpAddr::V4(g)) || a.addr == IpAddr::V4(g) {
            c.err(w, Some("gateway"), format!("{} is not another address in {}", g, a.network()), Some("the ISP's gateway, in the VIP's subnet"));
        }
    }
    if let (Some(i), Some(a)) = (&interface, address) {
        let own: Vec<&IpNet> = i.addresses.iter().filter(|n| n.addr.is_ipv4()).collect();
        if own.is_empty() {
            c.err(w, Some("interface"), format!("logical interface '{}' has no static IPv4 address: VRRP needs this router's own address on the WAN", i.logical), Some("proto static with ipaddr in /etc/config/network, e.g. 203.0.113.2/24 (the peer .3)"));
        } else if own.iter().any(|n| n.addr == a.addr) {
            c.err(w, Some("ipaddr"), format!("{} is this router's own address on '{}', not a VIP", a.addr, i.logical), Some("an address neither router has"));
        } else if !own.iter().any(|n| n.contains(a.addr)) {
            c.err(w, Some("ipaddr"), format!("{} is not in the subnet of '{}' ({})", a, i.logical, own.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")), None);
        }
    }
    let vrid = match w.get("vrid") {
        None => Some(DEFAULT_STATIC_VRID),
        Some(v) => match super::parse_uint(v) {
            Some(n) if (1..=255).contains(&n) => u8::try_from(n).ok(),
            _ => {
                c.err(w, Some("vrid"), format!("'{}' is out of range", v), Some("1..255"));
                None
            }
        },
    };
    let peer_address = match (w.get("peer_address"), sync_mode) {
        (Some(p), _) => match p.parse::<Ipv4Addr>() {
            Ok(p) => Some(IpAddr::V4(p)),
            Err(_) => {
                c.err(w, Some("peer_address"), format!("'{}' is not an IPv4 address", p), Some("the peer's own address on the WAN"));
                None
            }
        },
        (None, SyncMode::Unicast) => {
            c.err(w, Some("peer_address"), "unicast mode needs the peer's address on the WAN", Some("the peer's own address on the WAN"));
            None
        }
        (None, SyncMode::Multicast) => None,
    };
    let name = w.name.as_deref().filter(|n| is_plain_name(n, 32)).unwrap_or("wan").to_string();
    Some(Vip { name, interface: interface?, address: address?, vrid: vrid?, peer_address, gateway: Some(gateway?) })
}

fn logical(c: &mut Checker, w: &Section) -> Option<String> {
    match w.get("interface") {
        Some(l) if is_plain_name(l, 32) => Some(l.to_string()),
        Some(l) => {
            c.err(w, Some("interface"), format!("'{}' is not a logical interface name", l), None);
            None
        }
        None => {
            c.err(w, Some("interface"), "interface is not set", Some("the logical WAN interface, e.g. wan"));
            None
        }
    }
}

fn parent(c: &mut Checker, w: &Section) -> Option<String> {
    match w.get("parent") {
        Some(p) if is_plain_name(p, MAX_IFNAME) => Some(p.to_string()),
        Some(p) => {
            c.err(w, Some("parent"), format!("'{}' is not a device name", p), Some("a kernel device, at most 15 characters"));
            None
        }
        None => {
            c.err(w, Some("parent"), "parent device is not set", Some("the physical WAN port under the macvlan, e.g. eth1"));
            None
        }
    }
}

fn macaddr(c: &mut Checker, w: &Section) -> Option<[u8; 6]> {
    let Some(m) = w.get("macaddr") else {
        c.err(w, Some("macaddr"), "macaddr is not set", Some("a unicast, locally administered MAC, the same on both routers"));
        return None;
    };
    match parse_mac(&m.to_ascii_lowercase()) {
        Ok(m) => Some(m),
        Err(e) => {
            c.err(w, Some("macaddr"), e, Some("a unicast, locally administered MAC, the same on both routers, e.g. 02:00:5e:10:00:01"));
            None
        }
    }
}

/// The macvlan device; without `device` it is derived from the logical name.
fn device(c: &mut Checker, w: &Section, logical: Option<&str>) -> Option<String> {
    match (w.get("device"), logical) {
        (Some(d), _) if is_plain_name(d, MAX_IFNAME) => Some(d.to_string()),
        (Some(d), _) => {
            c.err(w, Some("device"), format!("'{}' is not a device name", d), Some("at most 15 characters"));
            None
        }
        (None, Some(l)) => Some(default_wan_device(l)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::model::load::{validate, Sources};
    use std::net::Ipv4Addr;

    fn sources(wan: &str, wan_net: &str) -> Sources {
        let muros = format!("config global 'global'\n\toption role 'master'\n\toption sync_interface 'sync'\n\nconfig vip 'lan'\n\toption interface 'lan'\n\toption address '192.0.2.1/24'\n\nconfig wan 'wan'\n{wan}");
        let network = format!("config interface 'lan'\n\toption device 'br-lan'\n\toption proto 'static'\n\toption ipaddr '192.0.2.2/24'\n\nconfig interface 'sync'\n\toption device 'eth2'\n\toption proto 'static'\n\toption ipaddr '198.18.0.1/30'\n\nconfig interface 'wan'\n\toption device 'eth1'\n{wan_net}");
        Sources { muros: crate::uci::parse(&muros, "/etc/config/muros_ha").unwrap(), network: crate::uci::parse(&network, "/etc/config/network").unwrap(), system: None, warnings: vec![] }
    }
    const OWN: &str = "\toption proto 'static'\n\toption ipaddr '203.0.113.2/24'\n";

    #[test]
    fn a_static_wan_is_a_vip_with_its_gateway() {
        let cfg = validate(&sources("\toption proto 'static'\n\toption interface 'wan'\n\toption ipaddr '203.0.113.10/24'\n\toption gateway '203.0.113.1'\n", OWN)).unwrap();
        assert!(cfg.wan.is_none(), "no macvlan WAN");
        let v = cfg.vips.last().unwrap();
        assert_eq!((v.name.as_str(), v.interface.device.as_str(), v.address.to_string().as_str(), v.vrid), ("wan", "eth1", "203.0.113.10/24", 10));
        assert_eq!(v.gateway, Some(Ipv4Addr::new(203, 0, 113, 1)));
        assert_eq!(cfg.vips[0].gateway, None);
    }

    /// Each mistake with file, line and option.
    #[test]
    fn static_wan_mistakes_are_reported_where_they_are() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("\toption proto 'static'\n\toption interface 'wan'\n\toption gateway '203.0.113.1'\n", OWN, "wan.ipaddr", "needs its VIP"),
            ("\toption proto 'static'\n\toption interface 'wan'\n\toption ipaddr '203.0.113.10'\n\toption gateway '203.0.113.1'\n", OWN, "wan.ipaddr", "with prefix"),
            ("\toption proto 'static'\n\toption interface 'wan'\n\toption ipaddr '203.0.113.10/24'\n", OWN, "wan.gateway", "needs the ISP's gateway"),
            ("\toption proto 'static'\n\toption interface 'wan'\n\toption ipaddr '203.0.113.10/24'\n\toption gateway '198.51.100.1'\n", OWN, "wan.gateway", "is not another address in 203.0.113.0/24"),
            ("\toption proto 'static'\n\toption interface 'wan'\n\toption ipaddr '203.0.113.2/24'\n\toption gateway '203.0.113.1'\n", OWN, "wan.ipaddr", "this router's own address"),
            ("\toption proto 'static'\n\toption interface 'wan'\n\toption ipaddr '203.0.113.10/24'\n\toption gateway '203.0.113.1'\n", "\toption proto 'dhcp'\n", "wan.interface", "no static IPv4 address"),
            ("\toption proto 'static'\n\toption interface 'wan'\n\toption ipaddr '198.51.100.10/24'\n\toption gateway '198.51.100.1'\n", OWN, "wan.ipaddr", "is not in the subnet"),
            ("\toption proto 'static'\n\toption interface 'wan'\n\toption ipaddr '203.0.113.10/24'\n\toption gateway '203.0.113.1'\n\toption macaddr '02:00:00:00:00:01'\n", OWN, "wan.macaddr", "unknown option"),
            ("\toption proto 'static'\n\toption interface 'wan'\n\toption ipaddr '203.0.113.10/24'\n\toption gateway '203.0.113.1'\n\toption vrid '300'\n", OWN, "wan.vrid", "out of range"),
            ("\toption proto 'pppoe'\n\toption interface 'wan'\n", OWN, "wan.proto", "'pppoe' is not supported"),
            ("\toption proto 'l2tp'\n\toption interface 'wan'\n", OWN, "wan.proto", "unknown proto 'l2tp'"),
        ];
        for (wan, net, location, says) in cases {
            let errors = validate(&sources(wan, net)).unwrap_err();
            let hit = errors.iter().find(|e| e.location == *location).unwrap_or_else(|| panic!("{location}: {errors:#?}"));
            assert!(hit.message.contains(says), "{location}: {hit}");
            assert_eq!(hit.file, "/etc/config/muros_ha");
            assert!(hit.line >= 9, "{hit}");
        }
    }
}
