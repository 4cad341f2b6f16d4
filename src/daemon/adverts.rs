//! VRRP adverts as the daemon sees them on the wire: parsing and classification, pure.
//!
//! keepalived drops an advert it cannot accept (another password, VRRP version or v2
//! advert interval: pitfall 3) after at most a log line, and it never says that a
//! stranger uses our VRID. The daemon reads a copy of every VRRP packet that reaches
//! this host (see [`super::vrrp_socket`]) and sorts each one here:
//!
//! - another VRID: a neighbour cluster on the same LAN, ignored;
//! - our VRID but not our VIP: a foreign router that picked our VRID (seed `000`'s
//!   VRID-collision pitfall), reported, never acted upon;
//! - our VRID and our VIP: the peer. Its advert is checked against what keepalived will
//!   check (version, auth type, password, v2 interval), so the daemon knows whether
//!   keepalived accepts it, and the priority it carries says who should win.

use crate::model::{AuthType, Config, Vip, VrrpVersion};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const IPPROTO_VRRP: i32 = 112;
const TYPE_ADVERT: u8 = 1;
const AUTH_NONE: u8 = 0;
const AUTH_PASS: u8 = 1;

/// One VRRP advertisement, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub source: IpAddr,
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    pub addresses: Vec<IpAddr>,
    /// VRRPv2 only: auth type and the 8 bytes of simple-password data.
    pub auth_type: u8,
    pub auth_data: [u8; 8],
    /// v2: seconds; v3: centiseconds.
    pub interval: u16,
}

/// An IPv4 packet as a raw IPPROTO_VRRP socket returns it (IP header included).
pub fn parse_ipv4(packet: &[u8]) -> Option<Advert> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    if packet.first()? >> 4 != 4 || ihl < 20 || packet.len() < ihl || *packet.get(9)? != IPPROTO_VRRP as u8 {
        return None;
    }
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    parse_vrrp(&packet[ihl..], IpAddr::V4(src), false)
}

/// An IPv6 VRRP payload (a raw IPv6 socket strips the IPv6 header) from `source`.
pub fn parse_ipv6(payload: &[u8], source: Ipv6Addr) -> Option<Advert> {
    parse_vrrp(payload, IpAddr::V6(source), true)
}

fn parse_vrrp(p: &[u8], source: IpAddr, v6: bool) -> Option<Advert> {
    if p.len() < 8 {
        return None;
    }
    let (version, kind) = (p[0] >> 4, p[0] & 0x0f);
    if kind != TYPE_ADVERT || !(version == 2 || version == 3) || (v6 && version != 3) {
        return None;
    }
    let count = usize::from(p[3]);
    let width = if v6 { 16 } else { 4 };
    let body = p.get(8..8 + count * width)?;
    let addresses = body
        .chunks_exact(width)
        .map(|c| match <[u8; 16]>::try_from(c) {
            Ok(b) => IpAddr::V6(Ipv6Addr::from(b)),
            Err(_) => IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
        })
        .collect();
    let mut auth_data = [0u8; 8];
    let (auth_type, interval) = if version == 2 {
        let end = 8 + count * width;
        if let Some(a) = p.get(end..end + 8) {
            auth_data.copy_from_slice(a);
        }
        (p[4], u16::from(p[5]))
    } else {
        (AUTH_NONE, u16::from_be_bytes([p[4], p[5]]) & 0x0fff)
    };
    Some(Advert { source, version, vrid: p[1], priority: p[2], addresses, auth_type, auth_data, interval })
}

/// What an advert means to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not one of our VRIDs on this device (a neighbour cluster), or our own packet.
    Ignore,
    /// Our VRID for other addresses: a foreign router uses our VRID.
    Collision { instance: usize },
    /// The peer's advert for instance `instance`; `problem` says why keepalived will
    /// drop it (`None`: keepalived accepts it).
    Peer { instance: usize, problem: Option<String> },
}

/// Sort `ad`, received on `device`, against our instances. `own`: this router's
/// addresses (its own adverts may be looped back).
pub fn classify(cfg: &Config, device: &str, ad: &Advert, own: &[IpAddr]) -> Verdict {
    if own.contains(&ad.source) {
        return Verdict::Ignore;
    }
    let Some(instance) = cfg.vips.iter().position(|v| v.interface.device == device && v.vrid == ad.vrid && v.address.addr.is_ipv6() == ad.source.is_ipv6()) else {
        return Verdict::Ignore;
    };
    let vip = &cfg.vips[instance];
    if !ad.addresses.contains(&vip.address.addr) {
        return Verdict::Collision { instance };
    }
    Verdict::Peer { instance, problem: problem(cfg, vip, ad) }
}

/// Why keepalived (configured from `cfg`) drops `ad`, if it does.
fn problem(cfg: &Config, vip: &Vip, ad: &Advert) -> Option<String> {
    let v3 = vip.address.is_ipv6() || cfg.vrrp_version == VrrpVersion::V3;
    let ours = if v3 { 3 } else { 2 };
    if ad.version != ours {
        return Some(format!("it speaks VRRPv{}, we speak VRRPv{}", ad.version, ours));
    }
    if v3 {
        // v3 has no authentication, and a backup adopts the master's interval.
        return None;
    }
    let (want_type, want_data) = expected_auth(cfg);
    if ad.auth_type != want_type {
        let name = |t: u8| match t {
            AUTH_NONE => "none".to_string(),
            AUTH_PASS => "PASS".to_string(),
            t => format!("type {}", t),
        };
        return Some(format!("its auth_type is {}, ours is {}", name(ad.auth_type), name(want_type)));
    }
    if want_type == AUTH_PASS && ad.auth_data != want_data {
        return Some("it uses another VRRP password".into());
    }
    let want_interval = cfg.advert_ms.div_ceil(1000).max(1);
    if u32::from(ad.interval) != want_interval {
        return Some(format!("its advert interval is {} s, ours is {} s", ad.interval, want_interval));
    }
    None
}

/// The auth type and data our keepalived puts in a v2 advert: the password's first 8
/// bytes, zero padded (keepalived truncates longer ones). AH adverts are IP protocol
/// 51 and never reach a VRRP socket.
fn expected_auth(cfg: &Config) -> (u8, [u8; 8]) {
    let mut data = [0u8; 8];
    match cfg.auth_type {
        AuthType::Pass => {
            let pw = cfg.password.expose().as_bytes();
            let n = pw.len().min(8);
            data[..n].copy_from_slice(&pw[..n]);
            (AUTH_PASS, data)
        }
        AuthType::None | AuthType::Ah => (AUTH_NONE, data),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A v2 advert as keepalived 2.2.7 sends it (IP header + VRRP), built by hand.
    pub fn v2_packet(src: [u8; 4], vrid: u8, prio: u8, vip: [u8; 4], pass: &[u8], interval: u8) -> Vec<u8> {
        let mut p = vec![0x45, 0xc0, 0, 40, 0, 0, 0, 0, 255, 112, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&[224, 0, 0, 18]);
        p.extend_from_slice(&[0x21, vrid, prio, 1, if pass.is_empty() { 0 } else { 1 }, interval, 0, 0]);
        p.extend_from_slice(&vip);
        let mut auth = [0u8; 8];
        auth[..pass.len().min(8)].copy_from_slice(&pass[..pass.len().min(8)]);
        p.extend_from_slice(&auth);
        p
    }

    #[test]
    fn a_v2_advert_is_decoded() {
        let ad = parse_ipv4(&v2_packet([192, 0, 2, 3], 10, 100, [192, 0, 2, 1], b"secret", 1)).unwrap();
        assert_eq!(ad.source, "192.0.2.3".parse::<IpAddr>().unwrap());
        assert_eq!((ad.version, ad.vrid, ad.priority, ad.auth_type, ad.interval), (2, 10, 100, 1, 1));
        assert_eq!(ad.addresses, vec!["192.0.2.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(&ad.auth_data, b"secret\0\0");
    }

    #[test]
    fn garbage_and_truncated_packets_are_not_adverts() {
        let good = v2_packet([192, 0, 2, 3], 10, 100, [192, 0, 2, 1], b"x", 1);
        for n in 0..28 {
            assert_eq!(parse_ipv4(&good[..n]), None, "{} bytes", n);
        }
        let mut udp = good.clone();
        udp[9] = 17;
        assert_eq!(parse_ipv4(&udp), None);
        let mut bad_type = good.clone();
        bad_type[20] = 0x22;
        assert_eq!(parse_ipv4(&bad_type), None);
        let mut many = good;
        many[23] = 200; // claims 200 addresses
        assert_eq!(parse_ipv4(&many), None);
    }

    #[test]
    fn a_v3_ipv6_payload_is_decoded() {
        let vip: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let mut p = vec![0x31, 20, 150, 1, 0x00, 10, 0, 0];
        p.extend_from_slice(&vip.octets());
        let ad = parse_ipv6(&p, "fe80::2".parse().unwrap()).unwrap();
        assert_eq!((ad.version, ad.vrid, ad.priority, ad.interval), (3, 20, 150, 10));
        assert_eq!(ad.addresses, vec![IpAddr::V6(vip)]);
        // v2 over IPv6 does not exist
        p[0] = 0x21;
        assert_eq!(parse_ipv6(&p, "fe80::2".parse().unwrap()), None);
    }
}
