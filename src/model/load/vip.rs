//! `config vip` sections: one VRRP instance each.

use super::{is_plain_name, Checker, FIRST_DEFAULT_VRID};
use crate::model::network::{parse_ipnet, resolve_interface};
use crate::model::types::{Interface, IpNet, SyncMode, Vip, VrrpVersion};
use crate::uci::{Package, Section};
use std::net::IpAddr;

const VIP_OPTIONS: &[&str] = &["interface", "address", "vrid", "peer_address"];

/// What `config global` decides for every VIP.
pub(super) struct Context<'a> {
    pub vrrp_version: VrrpVersion,
    pub sync_mode: SyncMode,
    pub sync_interface: Option<&'a Interface>,
    pub network: &'a Package,
}

/// One `config vip` as far as it could be read on its own.
struct Draft<'s> {
    section: &'s Section,
    name: String,
    interface: Option<Interface>,
    address: Option<IpNet>,
    vrid: Option<u8>,
    peer_address: Option<IpAddr>,
}

/// The valid VIPs, in file order. `g` carries the error when there is no VIP at all.
pub(super) fn vips(c: &mut Checker, g: &Section, ctx: &Context) -> Vec<Vip> {
    let pkg = c.pkg;
    let mut next_default_vrid = u32::from(FIRST_DEFAULT_VRID);
    let mut drafts = Vec::new();
    for (idx, s) in pkg.sections.iter().enumerate().filter(|(_, s)| s.stype == "vip") {
        drafts.push(draft(c, idx, s, ctx, &mut next_default_vrid));
    }
    let vips = without_conflicts(c, drafts);
    if vips.is_empty() && !pkg.sections_of_type("vip").any(|_| true) {
        c.err(g, None, "no VIP is configured", Some("at least one 'config vip' section"));
    }
    vips
}

fn draft<'s>(c: &mut Checker, idx: usize, s: &'s Section, ctx: &Context, next_default_vrid: &mut u32) -> Draft<'s> {
    c.unknown_options(s, VIP_OPTIONS);
    let interface = interface(c, s, ctx);
    let address = address(c, s, ctx.vrrp_version, interface.as_ref());
    let vrid = vrid(c, s, next_default_vrid);
    let peer_address = peer_address(c, s, ctx.sync_mode, address);
    if ctx.sync_mode == SyncMode::Unicast {
        check_unicast_interface(c, s, interface.as_ref(), address);
    }
    let name = instance_name(c, idx, s, interface.as_ref());
    Draft { section: s, name, interface, address, vrid, peer_address }
}

fn interface(c: &mut Checker, s: &Section, ctx: &Context) -> Option<Interface> {
    let iface = match s.get("interface") {
        None | Some("") => {
            c.err(s, Some("interface"), "interface is not set", Some("a logical interface from /etc/config/network"));
            None
        }
        Some(l) => match resolve_interface(ctx.network, l) {
            Ok(i) => Some(i),
            Err(e) => {
                c.err(s, Some("interface"), e, None);
                None
            }
        },
    };
    if let (Some(i), Some(si)) = (&iface, ctx.sync_interface) {
        if i.device == si.device {
            c.err(s, Some("interface"), format!("'{}' is the sync link; a VIP there would fault the whole group when the sync cable is cut", i.logical), Some("any interface but the sync interface"));
        }
    }
    iface
}

/// Without a prefix the VIP takes the one of the interface's own address of its family.
fn address(c: &mut Checker, s: &Section, vrrp_version: VrrpVersion, iface: Option<&Interface>) -> Option<IpNet> {
    let a = match s.get("address") {
        None | Some("") => {
            c.err(s, Some("address"), "address is not set", Some("an IPv4 or IPv6 address with prefix, e.g. 192.0.2.1/24"));
            return None;
        }
        Some(a) => a,
    };
    let default_prefix = iface.and_then(|i| i.addresses.iter().find(|n| n.addr.is_ipv4() != a.contains(':'))).map_or(if a.contains(':') { 128 } else { 32 }, |n| n.prefix);
    let Some(net) = parse_ipnet(a, default_prefix) else {
        c.err(s, Some("address"), format!("'{}' is not an address with prefix", a), Some("e.g. 192.0.2.1/24 or 2001:db8::1/64"));
        return None;
    };
    if net.is_ipv6() && vrrp_version == VrrpVersion::V2 {
        c.err(s, Some("address"), format!("IPv6 VIP {} needs VRRPv3", net), Some("IPv4 with vrrp_version 2; set vrrp_version 3 for IPv6"));
    }
    if let Some(i) = iface {
        if i.addresses.iter().any(|n| n.addr == net.addr) {
            c.err(s, Some("address"), format!("{} is this router's own address on '{}', not a virtual one", net.addr, i.logical), Some("a free address in the interface's subnet"));
        }
    }
    Some(net)
}

/// Without `vrid`, the next one after every VRID seen so far (explicit ones included).
fn vrid(c: &mut Checker, s: &Section, next_default_vrid: &mut u32) -> Option<u8> {
    let vrid = if s.get("vrid").is_some() {
        c.int_opt(s, "vrid", 1, 255).map(|v| v as u8)
    } else {
        let v = u8::try_from(*next_default_vrid).ok();
        if v.is_none() {
            c.err(s, Some("vrid"), "no free default VRID left", Some("set vrid explicitly, 1..255"));
        }
        v
    };
    if let Some(v) = vrid {
        *next_default_vrid = (*next_default_vrid).max(u32::from(v) + 1);
    }
    vrid
}

fn peer_address(c: &mut Checker, s: &Section, sync_mode: SyncMode, address: Option<IpNet>) -> Option<IpAddr> {
    let peer = match s.get("peer_address") {
        None | Some("") => None,
        Some(v) => match v.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                c.err(s, Some("peer_address"), format!("'{}' is not an IP address", v), None);
                None
            }
        },
    };
    if let (Some(p), Some(a)) = (peer, address) {
        if p.is_ipv6() != a.is_ipv6() {
            c.err(s, Some("peer_address"), format!("{} and the VIP {} are of different address families", p, a), Some("an address of the VIP's family"));
        }
    }
    if sync_mode == SyncMode::Unicast && peer.is_none() {
        c.err(s, Some("peer_address"), "unicast mode sends VRRP adverts to the peer's address on this interface; it is not set", Some("the other router's address on this interface"));
    }
    peer
}

/// Unicast adverts leave from the router's own address, so one of the VIP's family must exist.
fn check_unicast_interface(c: &mut Checker, s: &Section, iface: Option<&Interface>, address: Option<IpNet>) {
    if let Some(i) = iface {
        let fam_v6 = address.is_some_and(|a| a.is_ipv6());
        if !i.addresses.iter().any(|n| n.addr.is_ipv6() == fam_v6) {
            c.err(s, Some("interface"), format!("unicast VRRP needs a static address of the same family on '{}'", i.logical), None);
        }
    }
}

/// The section name, else the logical interface, else `@vip[N]` (which is then refused).
fn instance_name(c: &mut Checker, idx: usize, s: &Section, iface: Option<&Interface>) -> String {
    let name = s.name.clone().or_else(|| iface.map(|i| i.logical.clone())).unwrap_or_else(|| c.pkg.display_name(idx));
    if !is_plain_name(&name, 32) {
        c.err(s, None, format!("'{}' cannot be used as a VRRP instance name", name), Some("letters, digits, '_', '-', '.'"));
    }
    name
}

/// Checks between VIPs, after every section was read: errors are sorted by line and
/// location before they are returned, so only errors on the same option keep their
/// emission order, and these still come after that option's own ones.
/// Each VIP is compared with the valid VIPs before it.
fn without_conflicts(c: &mut Checker, drafts: Vec<Draft>) -> Vec<Vip> {
    let mut vips: Vec<Vip> = Vec::new();
    // (device/family, VRID) pairs already taken; a few entries, a Vec is enough.
    let mut seen_vrid: Vec<(String, u8)> = Vec::new();
    for d in drafts {
        check_unique_address(c, &d, &vips);
        check_unique_name(c, &d, &vips);
        check_unique_vrid(c, &d, &mut seen_vrid);
        if let Draft { name, interface: Some(interface), address: Some(address), vrid: Some(vrid), peer_address, .. } = d {
            vips.push(Vip { name, interface, address, vrid, peer_address, gateway: None });
        }
    }
    vips
}

fn check_unique_address(c: &mut Checker, d: &Draft, vips: &[Vip]) {
    let Some(a) = d.address else { return };
    if let Some(dup) = vips.iter().find(|v| v.address.addr == a.addr) {
        c.err(d.section, Some("address"), format!("{} is already the VIP of '{}'", a.addr, dup.name), Some("each VIP once"));
    }
}

fn check_unique_name(c: &mut Checker, d: &Draft, vips: &[Vip]) {
    if vips.iter().any(|v| v.name == d.name) {
        c.err(d.section, None, format!("two VIPs would both be called '{}'; name the sections", d.name), Some("config vip 'NAME'"));
    }
}

/// VRRPv3 keeps separate VRID spaces for IPv4 and IPv6 on one link; a VIP whose address
/// did not parse counts as IPv4. Invalid VIPs take their VRID too.
fn check_unique_vrid(c: &mut Checker, d: &Draft, seen: &mut Vec<(String, u8)>) {
    let (Some(i), Some(v)) = (&d.interface, d.vrid) else { return };
    let fam = d.address.is_some_and(|a| a.is_ipv6()) as u8;
    let key = (format!("{}/{}", i.device, fam), v);
    if seen.contains(&key) {
        c.err(d.section, Some("vrid"), format!("VRID {} is used twice on '{}'", v, i.logical), Some("a VRID unique per interface, 1..255"));
    } else {
        seen.push(key);
    }
}
