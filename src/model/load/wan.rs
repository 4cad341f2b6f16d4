//! `config wan`: the shared-MAC macvlan WAN (optional, at most one).

use super::{default_wan_device, is_plain_name, parse_mac, Checker};
use crate::model::network::MAX_IFNAME;
use crate::model::types::{Interface, Wan};
use crate::uci::Section;

const WAN_OPTIONS: &[&str] = &["interface", "parent", "macaddr", "device", "proto"];

pub(super) fn wan(c: &mut Checker, sync_interface: Option<&Interface>) -> Option<Wan> {
    let wans: Vec<&Section> = c.pkg.sections_of_type("wan").collect();
    for extra in wans.iter().skip(1) {
        c.err(extra, None, "more than one 'config wan' section", Some("one shared-MAC WAN"));
    }
    let w = wans.first()?;
    c.unknown_options(w, WAN_OPTIONS);
    match w.get("proto") {
        None | Some("dhcp") => {}
        Some(p @ ("static" | "pppoe")) => {
            let p = p.to_string();
            c.err(w, Some("proto"), format!("proto '{}' is not supported by this release", p), Some("dhcp (the shared-MAC macvlan WAN); README, WAN modes, says what to do meanwhile"));
        }
        Some(p) => {
            let p = p.to_string();
            c.err(w, Some("proto"), format!("unknown proto '{}'", p), Some("dhcp"));
        }
    }
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
    Some(Wan { logical: logical?, parent: parent?, device: device?, macaddr: macaddr? })
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
