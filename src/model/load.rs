//! `muros_ha` + `network` + `system` sections → [`Config`], collecting every error.

use super::network::MAX_IFNAME;
use super::types::*;
use super::ConfigError;
use crate::paths::{Paths, UCI_PACKAGE};
use crate::uci::{self, Package, Section};
use std::net::Ipv4Addr;

mod global;
pub use global::EXAMPLE_PASSWORDS;
mod sync;
mod health;
mod vip;
mod wan;

/// The parsed UCI packages the model is built from.
#[derive(Debug, Clone)]
pub struct Sources {
    pub muros: Package,
    pub network: Package,
    /// `/etc/config/system` is optional (only the hostname is read from it).
    pub system: Option<Package>,
    /// Things that are not errors but must not go unnoticed (pending `uci` changes…).
    pub warnings: Vec<String>,
}

/// Default conntrackd multicast group (conntrackd's and MurOS's default).
pub const DEFAULT_SYNC_GROUP: Ipv4Addr = Ipv4Addr::new(225, 0, 0, 50);
pub const DEFAULT_SYNC_PORT: u16 = 3780;
/// VRIDs picked in order when a VIP has none: 10, 11, 12… (MurOS's default range).
pub const FIRST_DEFAULT_VRID: u8 = 10;


/// Read the three packages under `paths`. A missing or unparsable file is an error.
pub fn load_packages(paths: &Paths) -> Result<Sources, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut read = |name: &str, required: bool, errors: &mut Vec<ConfigError>| -> Option<Package> {
        match uci::load_package(paths, name) {
            Ok((pkg, w)) => {
                warnings.extend(w);
                Some(pkg)
            }
            Err(e) => {
                if required || e.line != 0 {
                    errors.push(ConfigError {
                        file: e.file.clone(),
                        line: e.line,
                        location: name.to_string(),
                        message: e.message.clone(),
                        allowed: None,
                    });
                }
                None
            }
        }
    };
    let muros = read(UCI_PACKAGE, true, &mut errors);
    let network = read("network", true, &mut errors);
    let system = read("system", false, &mut errors);
    match (muros, network) {
        (Some(muros), Some(network)) if errors.is_empty() => Ok(Sources { muros, network, system, warnings }),
        _ => Err(errors),
    }
}

/// Load and validate the configuration under `paths`.
pub fn load(paths: &Paths) -> Result<Config, Vec<ConfigError>> {
    let sources = load_packages(paths)?;
    validate(&sources)
}

/// Collects errors with their location.
struct Checker<'a> {
    pkg: &'a Package,
    errors: Vec<ConfigError>,
}

impl<'a> Checker<'a> {
    fn index_of(&self, section: &Section) -> usize {
        self.pkg.sections.iter().position(|s| std::ptr::eq(s, section)).unwrap_or(0)
    }

    fn err(&mut self, section: &Section, option: Option<&str>, message: impl Into<String>, allowed: Option<&str>) {
        let name = self.pkg.display_name(self.index_of(section));
        let location = match option {
            Some(o) => format!("{}.{}", name, o),
            None => name,
        };
        let line = option.map_or(section.line, |o| section.line_of(o));
        self.errors.push(ConfigError {
            file: self.pkg.file.clone(),
            line,
            location,
            message: message.into(),
            allowed: allowed.map(str::to_string),
        });
    }

    fn unknown_options(&mut self, section: &Section, known: &[&str]) {
        for o in &section.options {
            if !known.contains(&o.name.as_str()) {
                let allowed = known.join(", ");
                let name = o.name.clone();
                self.err(section, Some(&name), format!("unknown option '{}'", name), Some(&allowed));
            }
        }
    }

    fn bool_opt(&mut self, section: &Section, option: &str, default: bool) -> bool {
        match section.get(option) {
            None => default,
            Some(v) => match parse_bool(v) {
                Some(b) => b,
                None => {
                    self.err(section, Some(option), format!("'{}' is not a boolean", v), Some("0, 1, true, false, yes, no, on, off"));
                    default
                }
            },
        }
    }

    fn int_opt(&mut self, section: &Section, option: &str, min: u32, max: u32) -> Option<u32> {
        let v = section.get(option)?;
        match parse_uint(v) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.err(section, Some(option), format!("'{}' is out of range", v), Some(&format!("an integer {}..{}", min, max)));
                None
            }
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "true" | "yes" | "on" | "enabled" => Some(true),
        "0" | "false" | "no" | "off" | "disabled" => Some(false),
        _ => None,
    }
}

fn parse_uint(v: &str) -> Option<u32> {
    if v.len() > 9 {
        return None;
    }
    crate::parse_u64(v).and_then(|n| u32::try_from(n).ok())
}

/// `0.1` → 100 ms; up to two decimals (VRRPv3 counts advert intervals in centiseconds).
fn parse_centiseconds(v: &str) -> Option<u32> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 2 {
        return None;
    }
    let int = if int.is_empty() { 0 } else { parse_uint(int)? };
    let frac = if frac.is_empty() {
        0
    } else {
        let f = parse_uint(frac)?;
        if frac.len() == 1 {
            f * 10
        } else {
            f
        }
    };
    int.checked_mul(100)?.checked_add(frac)
}

/// A password keepalived.conf can hold verbatim: printable ASCII without blanks, quotes,
/// backslash or comment characters (keepalived would split or truncate it silently).
fn password_charset_ok(p: &str) -> bool {
    p.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\' | b'#' | b'!'))
}

/// Names that end up in keepalived.conf, file names and argument vectors.
fn is_plain_name(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) && !s.starts_with(['-', '.'])
}

/// MAC → bytes; must be unicast and locally administered so it cannot collide with a
/// vendor address on the ISP segment.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!("'{}' is not a MAC address", s));
    }
    let mut out = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(format!("'{}' is not a MAC address", s));
        }
        out[i] = u8::from_str_radix(p, 16).map_err(|_| format!("'{}' is not a MAC address", s))?;
    }
    if out[0] & 0x01 != 0 {
        return Err(format!("'{}' is a multicast MAC address", s));
    }
    if out[0] & 0x02 == 0 {
        return Err(format!("'{}' is not locally administered (second bit of the first octet must be set, e.g. 02:…)", s));
    }
    Ok(out)
}

fn hostname(system: Option<&Package>) -> Option<String> {
    let h = system?.sections_of_type("system").next()?.get("hostname")?;
    if is_plain_name(h, 63) {
        Some(h.to_string())
    } else {
        None
    }
}

/// Validate the packages into a [`Config`]; every problem is reported.
///
/// Sections are checked by type (global, sync link, services, VIPs, WAN); the later ones
/// depend on what `config global` says. Errors are sorted by line and location at the end,
/// so only errors on the same option keep the order they were found in.
pub fn validate(src: &Sources) -> Result<Config, Vec<ConfigError>> {
    let mut c = Checker { pkg: &src.muros, errors: Vec::new() };
    check_section_types(&mut c);
    let Some(g) = global::section(&mut c) else {
        return Err(c.errors);
    };
    let global::Settings { enabled, maintenance, preempt, preempt_delay_s, role, priority, vrrp_version, advert_ms, auth_type, password, backup_route } = global::settings(&mut c, g);
    let sync_draft = sync::link(&mut c, g, &src.network);
    let services = global::services(&mut c, g);
    let vpns = global::vpns(&mut c, g, &src.network);
    let vpn_ports: Vec<u16> = vpns.iter().filter_map(|v| src.network.section(v)?.get("listen_port")?.parse().ok()).collect();
    let sync_interface = sync_draft.interface.as_ref();
    let vip_context = vip::Context { vrrp_version, sync_mode: sync_draft.mode, sync_interface, network: &src.network };
    let vips = vip::vips(&mut c, g, &vip_context);
    let (wan, static_wan) = match wan::wan(&mut c, sync_interface, sync_draft.mode, &src.network) {
        Some(wan::WanKind::Dhcp(w)) => (Some(w), None),
        Some(wan::WanKind::Static(v)) => (None, Some(v)),
        None => (None, None),
    };
    let mut vips = vips;
    if let Some(v) = static_wan {
        // The static WAN VIP is an instance like any VIP (sync group, firewall rule,
        // advert watch, status); `gateway` marks it.
        if let Some(clash) = vips.iter().find(|x| x.interface.device == v.interface.device && x.vrid == v.vrid) {
            let (name, vrid) = (clash.name.clone(), v.vrid);
            if let Some(w) = src.muros.sections_of_type("wan").next() {
                c.err(w, Some("vrid"), format!("VRID {} is already used by VIP '{}' on the same device", vrid, name), Some("another VRID, 1..255"));
            }
        }
        vips.push(v);
    }
    // A VPN interface comes and goes with the master; these must not.
    for v in &vpns {
        let taken = if sync_interface.is_some_and(|s| &s.logical == v) {
            Some("the sync link")
        } else if vips.iter().any(|x| &x.interface.logical == v) {
            Some("a VIP's interface")
        } else if wan.as_ref().is_some_and(|w| &w.logical == v) {
            Some("the WAN")
        } else {
            None
        };
        if let Some(what) = taken {
            c.err(g, Some("vpn"), format!("'{}' is {}, which must not go down with the master", v, what), Some("a tunnel interface such as wg0"));
        }
    }
    let health = health::checks(&mut c);
    let sync = sync_draft.into_link();
    let router_id = router_id(src.system.as_ref(), role);

    if !c.errors.is_empty() {
        crate::sort_small(&mut c.errors, |a, b| (a.line, &a.location) < (b.line, &b.location));
        return Err(c.errors);
    }
    let Some(sync) = sync else {
        return Err(c.errors);
    };
    Ok(Config {
        enabled,
        role,
        priority,
        maintenance,
        auth_type,
        password: Secret::new(password),
        vrrp_version,
        advert_ms,
        preempt,
        preempt_delay_s,
        sync,
        services,
        vpns,
        vpn_ports,
        vips,
        wan,
        router_id,
        backup_route,
        health,
    })
}

fn check_section_types(c: &mut Checker) {
    let pkg = c.pkg;
    for s in &pkg.sections {
        if !matches!(s.stype.as_str(), "global" | "vip" | "wan" | "health") {
            let t = s.stype.clone();
            c.err(s, None, format!("unknown section type '{}'", t), Some("global, vip, wan, health"));
        }
    }
}

fn router_id(system: Option<&Package>, role: Role) -> String {
    hostname(system).unwrap_or_else(|| match role {
        Role::Master => "muros-master".into(),
        Role::Backup => "muros-backup".into(),
    })
}

/// The peer-link options of `config global` (defaults when there is no such section).
pub fn load_peer(paths: &crate::paths::Paths) -> Result<super::peer::PeerLink, String> {
    let (pkg, _) = crate::uci::load_package(paths, crate::paths::UCI_PACKAGE).map_err(|e| e.to_string())?;
    let peer = pkg.sections_of_type("global").next().map(|g| super::peer::parse(g).0).unwrap_or_default();
    Ok(peer)
}

/// macvlan device name when the `wan` section names none: `ha-<logical>`, not `<logical>`,
/// because DSA boards already call their physical WAN port `wan`.
pub fn default_wan_device(logical: &str) -> String {
    let mut d = format!("ha-{}", logical);
    d.truncate(MAX_IFNAME);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advert_intervals_parse_in_centiseconds() {
        assert_eq!(parse_centiseconds("1"), Some(100));
        assert_eq!(parse_centiseconds("0.1"), Some(10));
        assert_eq!(parse_centiseconds("0.01"), Some(1));
        assert_eq!(parse_centiseconds("40.95"), Some(4095));
        assert_eq!(parse_centiseconds(".5"), Some(50));
        assert_eq!(parse_centiseconds("0.001"), None);
        assert_eq!(parse_centiseconds("1e3"), None);
        assert_eq!(parse_centiseconds("."), None);
        assert_eq!(parse_centiseconds(""), None);
    }

    #[test]
    fn shared_mac_must_be_local_unicast() {
        assert!(parse_mac("02:00:5e:10:00:01").is_ok());
        assert!(parse_mac("00:11:22:33:44:55").unwrap_err().contains("locally administered"));
        assert!(parse_mac("03:00:5e:10:00:01").unwrap_err().contains("multicast"));
        assert!(parse_mac("02:00:5e:10:00").is_err());
        assert!(parse_mac("02:00:5e:10:00:zz").is_err());
    }

    #[test]
    fn passwords_that_keepalived_would_mangle_are_refused() {
        assert!(password_charset_ok("s3cr3tXx"));
        assert!(!password_charset_ok("s3cr3t!x"));
        assert!(!password_charset_ok("a b"));
        assert!(!password_charset_ok("a\"b"));
        assert!(!password_charset_ok("a#b"));
    }

    fn sources(global_extra: &str) -> Sources {
        let muros = format!(
            "config global 'global'\n\toption role 'master'\n\toption sync_interface 'sync'\n{global_extra}\nconfig vip 'lan'\n\toption interface 'lan'\n\toption address '192.0.2.1/24'\n"
        );
        let network = "config interface 'lan'\n\toption device 'br-lan'\n\toption proto 'static'\n\toption ipaddr '192.0.2.2/24'\n\nconfig interface 'sync'\n\toption device 'eth2'\n\toption proto 'static'\n\toption ipaddr '198.18.0.1/30'\n\nconfig interface 'wg0'\n\toption proto 'wireguard'\n\nconfig wireguard_wg0\n\toption public_key 'x'\n";
        Sources {
            muros: crate::uci::parse(&muros, "/etc/config/muros_ha").unwrap(),
            network: crate::uci::parse(network, "/etc/config/network").unwrap(),
            system: None,
            warnings: vec![],
        }
    }

    #[test]
    fn vpn_interfaces_exist_and_are_none_of_the_pair_s_own() {
        assert_eq!(validate(&sources("\tlist vpn 'wg0'\n\tlist vpn 'wg0'\n")).unwrap().vpns, ["wg0"]);
        assert!(validate(&sources("")).unwrap().vpns.is_empty());
        for (vpn, says) in [("nosuch", "no interface 'nosuch'"), ("lan", "a VIP's interface"), ("sync", "the sync link"), ("wireguard_wg0", "no interface"), ("a/b", "not an interface name")] {
            let errors = validate(&sources(&format!("\tlist vpn '{vpn}'\n"))).unwrap_err();
            assert_eq!(errors.len(), 1, "{errors:#?}");
            assert_eq!(errors[0].location, "global.vpn");
            assert!(errors[0].message.contains(says), "{vpn}: {}", errors[0].message);
        }
        // Not here yet, but network is replicated: the master's copy brings it.
        assert_eq!(validate(&sources("\tlist vpn 'wg9'\n\tlist replicate 'network'\n")).unwrap().vpns, ["wg9"]);
    }

    #[test]
    fn preempt_delay_needs_preempt_and_keepalived_s_range() {
        assert_eq!(validate(&sources("")).unwrap().preempt_delay_s, 0);
        assert_eq!(validate(&sources("\toption preempt_delay '30'\n")).unwrap().preempt_delay_s, 30);
        for (extra, says) in [("\toption preempt_delay '1001'\n", "out of range"), ("\toption preempt '0'\n\toption preempt_delay '30'\n", "without preempt does nothing")] {
            let errors = validate(&sources(extra)).unwrap_err();
            assert_eq!(errors.len(), 1, "{errors:#?}");
            assert_eq!(errors[0].location, "global.preempt_delay");
            assert!(errors[0].message.contains(says), "{}", errors[0]);
        }
    }

    #[test]
    fn backup_route_is_on_unless_turned_off_and_must_be_a_boolean() {
        assert!(validate(&sources("")).unwrap().backup_route);
        assert!(!validate(&sources("\toption backup_route '0'\n")).unwrap().backup_route);
        assert!(validate(&sources("\toption backup_route 'on'\n")).unwrap().backup_route);
        let errors = validate(&sources("\toption backup_route 'maybe'\n")).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        let e = &errors[0];
        assert_eq!((e.file.as_str(), e.line, e.location.as_str()), ("/etc/config/muros_ha", 4, "global.backup_route"), "{e}");
        assert!(e.message.contains("'maybe' is not a boolean"), "{e}");
    }
}
