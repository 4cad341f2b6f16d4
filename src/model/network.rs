//! Logical OpenWrt interface → kernel device, through `/etc/config/network`.
//!
//! netifd accepts two generations of syntax and admins have both in the wild:
//! - 21.02+: `config interface 'lan'` + `option device 'br-lan'` (+ a `config device`
//!   section of type bridge named `br-lan`);
//! - 19.07: `option type 'bridge'` + `option ifname 'eth0 eth1'` → netifd names the
//!   bridge `br-<interface>`.
//!
//! `@other` refers to another logical interface (alias); `eth0.2` is a VLAN device and is
//! taken as is.

use super::types::{Interface, IpNet};
use crate::uci::Package;
use std::net::{IpAddr, Ipv4Addr};

/// Longest chain of `@alias` references followed before giving up (loops are config errors).
const MAX_ALIAS_DEPTH: usize = 8;

/// Linux `IFNAMSIZ - 1`.
pub const MAX_IFNAME: usize = 15;

/// Resolve `logical` in the network package. The error says what is wrong.
pub fn resolve_interface(network: &Package, logical: &str) -> Result<Interface, String> {
    let mut name = logical.to_string();
    for _ in 0..MAX_ALIAS_DEPTH {
        let section = network
            .sections_of_type("interface")
            .find(|s| s.name.as_deref() == Some(name.as_str()))
            .ok_or_else(|| format!("logical interface '{}' is not defined in /etc/config/network", name))?;
        let device_opt = section.get("device").or_else(|| section.get("ifname")).map(str::trim_ascii);
        let is_old_bridge = section.get("type") == Some("bridge");
        let device = match device_opt {
            Some(d) if d.starts_with('@') => {
                name = d[1..].to_string();
                continue;
            }
            _ if is_old_bridge => format!("br-{}", name),
            Some(d) if !d.is_empty() => d.split_ascii_whitespace().next().unwrap_or(d).to_string(),
            _ => return Err(format!("logical interface '{}' has no device (option device)", name)),
        };
        if device.len() > MAX_IFNAME {
            return Err(format!("device name '{}' is longer than {} characters", device, MAX_IFNAME));
        }
        // The kernel's own rule (dev_valid_name); it also keeps /sys/class/net/<device> a
        // path inside that directory.
        if device == "." || device == ".." || device.contains(['/', ':']) {
            return Err(format!("device name '{}' is not a valid Linux interface name", device));
        }
        let addresses = addresses_of(section);
        return Ok(Interface { logical: logical.to_string(), device, addresses });
    }
    Err(format!("logical interface '{}': alias chain longer than {} (a loop?)", logical, MAX_ALIAS_DEPTH))
}

/// The static addresses of an interface section (`ipaddr` with `netmask` or CIDR, `ip6addr`).
fn addresses_of(section: &crate::uci::Section) -> Vec<IpNet> {
    let mut out = Vec::new();
    if section.get("proto").is_none_or(|p| p == "static") {
        let mask_prefix = section.get("netmask").and_then(netmask_to_prefix);
        for v in section.list("ipaddr") {
            if let Some(net) = parse_ipnet(v, mask_prefix.unwrap_or(32)) {
                if net.addr.is_ipv4() {
                    out.push(net);
                }
            }
        }
        for v in section.list("ip6addr") {
            if let Some(net) = parse_ipnet(v, 128) {
                if net.addr.is_ipv6() {
                    out.push(net);
                }
            }
        }
    }
    out
}

/// `255.255.255.0` → 24; non-contiguous masks are rejected.
pub fn netmask_to_prefix(mask: &str) -> Option<u8> {
    let m: Ipv4Addr = mask.trim_ascii().parse().ok()?;
    let bits = u32::from(m);
    let prefix = bits.leading_ones();
    if bits.checked_shl(prefix).unwrap_or(0) != 0 {
        return None;
    }
    u8::try_from(prefix).ok()
}

/// `192.0.2.1/24`, or a bare address with `default_prefix`.
pub fn parse_ipnet(text: &str, default_prefix: u8) -> Option<IpNet> {
    let text = text.trim_ascii();
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => u8::try_from(crate::parse_u64(p)?).ok()?,
        Some(_) => return None,
        None => default_prefix.min(max),
    };
    if prefix > max {
        return None;
    }
    Some(IpNet { addr, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netmasks_convert_and_holes_are_rejected() {
        assert_eq!(netmask_to_prefix("255.255.255.0"), Some(24));
        assert_eq!(netmask_to_prefix("255.255.255.255"), Some(32));
        assert_eq!(netmask_to_prefix("0.0.0.0"), Some(0));
        assert_eq!(netmask_to_prefix("255.0.255.0"), None);
        assert_eq!(netmask_to_prefix("nonsense"), None);
    }

    #[test]
    fn cidr_parsing_bounds_the_prefix() {
        assert_eq!(parse_ipnet("192.0.2.1/24", 32).map(|n| n.prefix), Some(24));
        assert_eq!(parse_ipnet("192.0.2.1", 32).map(|n| n.prefix), Some(32));
        assert_eq!(parse_ipnet("192.0.2.1/33", 32), None);
        assert_eq!(parse_ipnet("2001:db8::1/64", 128).map(|n| n.prefix), Some(64));
        assert_eq!(parse_ipnet("192.0.2.1/", 32), None);
        assert_eq!(parse_ipnet("192.0.2.1/+4", 32), None);
    }
}
