//! The peer link's options in `config global` (peer-link branch):
//!
//! ```text
//! option peer_port '3781'                 # TCP port of the authenticated peer channel
//! option peer_key  '<base64 or hex>'      # the peer's Noise static public key (pinned)
//! list replicate 'firewall'               # UCI packages the master pushes (default firewall, dhcp)
//! list replicate_exclude 'dhcp.@dnsmasq[0].interface'   # pkg.section[.option] kept per node
//! list replicate_file '/etc/openvpn/server.key'         # files a service needs, from FILE_DIRS
//! ```
//!
//! Kept apart from [`super::Config`] so render/failover (and their test fixtures) do not
//! change; [`super::load`] still reports these options' errors with file and line.

use crate::uci::Section;

pub const DEFAULT_PEER_PORT: u16 = 3781;
pub const DEFAULT_REPLICATE: &[&str] = &["firewall", "dhcp"];
/// Options of `config global` this module owns (added to the known list by the loader).
pub const OPTIONS: &[&str] = &["peer_port", "peer_key", "replicate", "replicate_exclude", "replicate_file"];

/// The directories a `replicate_file` may lie in: where OpenVPN, strongSwan and
/// WireGuard keep keys and certificates, and where LuCI puts uploaded ones. Nothing that
/// runs (`/etc/init.d`, `/etc/hotplug.d`, `/usr`) or that holds the router's own trust
/// (`/etc/dropbear`, `/etc/muros-ha`, `/etc/shadow`).
pub const FILE_DIRS: &[&str] = &["/etc/openvpn/", "/etc/swanctl/", "/etc/ipsec.d/", "/etc/wireguard/", "/etc/luci-uploads/"];
/// At most this many files, each at most [`MAX_FILE`] bytes.
pub const MAX_FILES: usize = 32;
pub const MAX_FILE: usize = 64 * 1024;

/// `path` is a plain absolute path inside one of [`FILE_DIRS`]: no `.`/`..` or empty
/// component, no characters outside letters, digits and `._-+@/`.
pub fn file_allowed(path: &str) -> bool {
    FILE_DIRS.iter().any(|d| path.strip_prefix(d).is_some_and(|rest| !rest.is_empty() && rest.split('/').all(|c| !c.is_empty() && c != "." && c != "..")))
        && path.len() <= 200
        && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+@/".contains(&b))
        // Keys and certificates, never a config or script that could name a program.
        && ![".conf", ".ovpn", ".sh"].iter().any(|x| path.ends_with(x))
}

/// One exclusion: a whole section (`firewall.guest_rule`) or one option of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    pub package: String,
    /// Named section or `@type[N]`.
    pub section: String,
    pub option: Option<String>,
}

impl std::fmt::Display for Exclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.package, self.section)?;
        if let Some(o) = &self.option {
            write!(f, ".{}", o)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerLink {
    pub port: u16,
    /// The peer's static public key; `None` = no peer channel.
    pub key: Option<[u8; 32]>,
    pub replicate: Vec<String>,
    pub exclude: Vec<Exclusion>,
    /// `list vpn` (validated by the loader): what of `network` is replicated, if it is.
    pub vpns: Vec<String>,
    /// `list replicate_file`: checked paths ([`file_allowed`]), at most [`MAX_FILES`].
    pub files: Vec<String>,
}

impl Default for PeerLink {
    fn default() -> Self {
        PeerLink { port: DEFAULT_PEER_PORT, key: None, replicate: DEFAULT_REPLICATE.iter().map(|s| s.to_string()).collect(), exclude: Vec::new(), vpns: Vec::new(), files: Vec::new() }
    }
}

/// A problem with one option: (option, message, allowed).
pub type Problem = (&'static str, String, &'static str);

/// Read the peer options of the global section; problems are returned, not fatal.
pub fn parse(g: &Section) -> (PeerLink, Vec<Problem>) {
    let mut out = PeerLink::default();
    let mut problems = Vec::new();
    if let Some(v) = g.get("peer_port") {
        match crate::parse_u64(v).and_then(|n| u16::try_from(n).ok()) {
            Some(p) if p > 0 => out.port = p,
            _ => problems.push(("peer_port", format!("'{}' is out of range", v), "an integer 1..65535")),
        }
    }
    if let Some(v) = g.get("peer_key") {
        if !v.is_empty() {
            match decode_key(v) {
                Ok(k) => out.key = Some(k),
                Err(e) => problems.push(("peer_key", e, "the peer's public key from its `ubus call muros_ha status` (peer.local_key): 44 base64 or 64 hex characters")),
            }
        }
    }
    if out.key.is_some() && g.get("peer_ip").is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok()) {
        problems.push(("peer_ip", "the peer link runs over IPv4 on the sync link".to_string(), "the peer's IPv4 address on the sync link"));
    }
    if g.option("replicate").is_some() {
        out.replicate.clear();
        for p in g.list("replicate") {
            // `network` is per router, but for the `list vpn` tunnels (peer::policy::in_scope).
            if !crate::uci::is_valid_package(p) || p == crate::paths::UCI_PACKAGE || p == "system" {
                problems.push(("replicate", format!("'{}' cannot be replicated", p), "UCI packages that must match on both routers, e.g. firewall, dhcp, network (its list vpn tunnels only); never muros_ha, system"));
            } else if !out.replicate.iter().any(|x| x == p) {
                out.replicate.push(p.to_string());
            }
        }
    }
    out.vpns = g.list("vpn").into_iter().filter(|v| crate::uci::is_valid_name(v)).map(str::to_string).collect();
    for f in g.list("replicate_file") {
        if !file_allowed(f) {
            problems.push(("replicate_file", format!("'{}' cannot be replicated", f), "a file under /etc/openvpn/, /etc/swanctl/, /etc/ipsec.d/, /etc/wireguard/ or /etc/luci-uploads/"));
        } else if out.files.len() == MAX_FILES {
            problems.push(("replicate_file", format!("more than {} files", MAX_FILES), "at most 32 files"));
        } else if !out.files.iter().any(|x| x == f) {
            out.files.push(f.to_string());
        }
    }
    for x in g.list("replicate_exclude") {
        match parse_exclusion(x) {
            Ok(e) if out.replicate.contains(&e.package) => out.exclude.push(e),
            Ok(e) => problems.push(("replicate_exclude", format!("'{}' names package '{}' which is not replicated", x, e.package), "package.section or package.section.option of a replicated package")),
            Err(m) => problems.push(("replicate_exclude", m, "package.section or package.section.option, e.g. dhcp.@dnsmasq[0].interface")),
        }
    }
    (out, problems)
}

/// `dhcp.@dnsmasq[0].interface`, `firewall.guest_rule`.
pub fn parse_exclusion(s: &str) -> Result<Exclusion, String> {
    let bad = || format!("'{}' is not package.section[.option]", s);
    let mut parts = s.splitn(3, '.');
    let package = parts.next().filter(|p| crate::uci::is_valid_package(p)).ok_or_else(bad)?;
    let section = parts.next().ok_or_else(bad)?;
    let option = parts.next();
    let section_ok = match section.strip_prefix('@') {
        Some(rest) => rest.split_once('[').is_some_and(|(t, n)| crate::uci::is_valid_type(t) && n.strip_suffix(']').is_some_and(|n| crate::parse_u64(n.trim_start_matches('-')).is_some_and(|n| n <= u64::from(u32::MAX)))),
        None => crate::uci::is_valid_name(section),
    };
    if !section_ok || option.is_some_and(|o| !crate::uci::is_valid_name(o)) {
        return Err(bad());
    }
    Ok(Exclusion { package: package.into(), section: section.into(), option: option.map(str::to_string) })
}

/// A Curve25519 public key in base64 (44 characters, WireGuard style) or hex (64).
pub fn decode_key(s: &str) -> Result<[u8; 32], String> {
    let s = s.trim_ascii();
    let bytes = if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        // All hex digits (checked above): pairs of nibbles.
        let nibble = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
        s.as_bytes().chunks(2).map(|p| nibble(p[0]) << 4 | nibble(p[1])).collect()
    } else {
        base64_decode(s).ok_or_else(|| format!("'{}' is neither base64 nor hex", s))?
    };
    let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| format!("a key has 32 bytes, this one {}", bytes.len()))?;
    // All zeros, 1, p − 1 and the like: any DH with them is all zeros, so the
    // handshake's secret would be known to everyone (the handshake refuses it too).
    if crate::peer::noise::is_low_order(&key) {
        return Err(format!("'{}' is a point of small order, never a real peer's key", s));
    }
    Ok(key)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding; `None` on any malformed input.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (ci, chunk) in s.chunks(4).enumerate() {
        let last = ci + 1 == s.len() / 4;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            let v = B64.iter().position(|&x| x == c)? as u32;
            n = (n << 6) | v;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_length() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&data)).as_deref(), Some(data.as_slice()), "len {}", len);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert!(base64_decode("Zm8").is_none());
        assert!(base64_decode("Z=8=").is_none());
        assert!(base64_decode("Zm8=Zm8=").is_none());
    }

    #[test]
    fn keys_are_read_as_base64_or_hex_and_must_have_32_bytes() {
        let k: Vec<u8> = (0..32).collect();
        assert_eq!(decode_key(&base64_encode(&k)).unwrap().to_vec(), k);
        let hex: String = k.iter().map(|b| format!("{:02x}", b)).collect();
        assert_eq!(decode_key(&hex).unwrap().to_vec(), k);
        assert!(decode_key(&base64_encode(&k[..31])).unwrap_err().contains("31"));
        assert!(decode_key("not a key").is_err());
    }

    #[test]
    fn small_order_keys_are_refused_in_either_spelling() {
        let zeros = base64_encode(&[0; 32]);
        assert!(decode_key(&zeros).unwrap_err().contains("small order"));
        assert!(decode_key(&"00".repeat(32)).unwrap_err().contains("small order"));
        // The order-8 point, hex, with the (ignored) top bit set.
        let eight = "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880";
        assert!(decode_key(eight).unwrap_err().contains("small order"));
        let (_, public) = crate::peer::noise::generate_keypair().unwrap();
        assert_eq!(decode_key(&base64_encode(&public)), Ok(public));
    }

    /// The LuCI Pairing section refuses low-order keys before they reach the daemon,
    /// from its own list: every entry (top bit clear or set) is one the daemon refuses,
    /// a neighbour of each is not, and the list is the whole set of seven.
    #[test]
    fn luci_low_order_list_matches_the_daemon() {
        let js = include_str!("../../luci-app-muros-ha/htdocs/luci-static/resources/view/muros-ha/settings.js");
        let start = js.find("const LOW_ORDER_POINTS = [").expect("list in settings.js");
        let list = &js[start..start + js[start..].find("];").unwrap()];
        let points: Vec<&str> = list.split('\'').filter(|s| s.len() == 64).collect();
        assert_eq!(points.len(), 7, "{}", list);
        for p in &points {
            assert!(decode_key(p).unwrap_err().contains("small order"), "{}", p);
            let mut bytes = decode_key_bytes(p);
            bytes[31] |= 0x80;
            assert!(decode_key(&base64_encode(&bytes)).is_err(), "{} with the top bit", p);
            let mut near = decode_key_bytes(p);
            near[5] ^= 1;
            assert!(decode_key(&base64_encode(&near)).is_ok(), "{} with one bit flipped", p);
        }
    }

    fn decode_key_bytes(hex: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn exclusions_name_a_section_or_an_option() {
        let e = parse_exclusion("dhcp.@dnsmasq[0].interface").unwrap();
        assert_eq!((e.package.as_str(), e.section.as_str(), e.option.as_deref()), ("dhcp", "@dnsmasq[0]", Some("interface")));
        let e = parse_exclusion("firewall.guest_rule").unwrap();
        assert_eq!(e.option, None);
        assert_eq!(e.to_string(), "firewall.guest_rule");
        for bad in ["dhcp", "dhcp.", "dhcp.@dnsmasq", "dhcp.@dnsmasq[x]", "dhcp.a b", "dhcp.lan.opt-ion!"] {
            assert!(parse_exclusion(bad).is_err(), "{}", bad);
        }
    }

    #[test]
    fn only_files_in_the_vpn_directories_are_replicated() {
        for ok in ["/etc/openvpn/server.key", "/etc/openvpn/pki/ca.crt", "/etc/swanctl/x509/gw.pem", "/etc/luci-uploads/cbid.openvpn.x.ca"] {
            assert!(file_allowed(ok), "{ok}");
        }
        for bad in ["/etc/openvpn/server.conf", "/etc/openvpn/client.ovpn", "/etc/openvpn/up.sh", "/etc/openvpn/", "/etc/openvpn/../shadow", "/etc/openvpn//k", "/etc/openvpn/./k", "/etc/init.d/openvpn", "/etc/dropbear/authorized_keys", "etc/openvpn/k", "/etc/openvpnx/k", "/etc/openvpn/a b", "/etc/openvpn/k\n"] {
            assert!(!file_allowed(bad), "{bad:?}");
        }
        let pkg = crate::uci::parse("config global\n\tlist replicate_file '/etc/openvpn/ta.key'\n\tlist replicate_file '/etc/passwd'\n", "t").unwrap();
        let (p, problems) = parse(&pkg.sections[0]);
        assert_eq!(p.files, ["/etc/openvpn/ta.key"]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].1.contains("/etc/passwd"));
    }

    #[test]
    fn replicating_our_own_package_is_refused() {
        let pkg = crate::uci::parse("config global\n\tlist replicate 'muros_ha'\n\tlist replicate 'system'\n\tlist replicate 'firewall'\n\tlist replicate 'network'\n\tlist vpn 'wg0'\n\tlist replicate_exclude 'dhcp.lan.start'\n\toption peer_port '0'\n", "t").unwrap();
        let (p, problems) = parse(&pkg.sections[0]);
        // network: its `list vpn` tunnels only (peer::policy::in_scope)
        assert_eq!(p.replicate, vec!["firewall", "network"]);
        assert_eq!(p.vpns, vec!["wg0"]);
        let opts: Vec<&str> = problems.iter().map(|p| p.0).collect();
        assert_eq!(opts, vec!["peer_port", "replicate", "replicate", "replicate_exclude"]);
    }
}
