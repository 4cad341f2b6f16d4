//! `config global`: the node's own VRRP settings and the services it starts.

use super::{is_plain_name, parse_centiseconds, password_charset_ok, Checker};
use crate::model::types::{AuthType, Role, VrrpVersion};
use crate::model::ConfigError;
use crate::uci::Section;

const GLOBAL_OPTIONS: &[&str] = &[
    "enabled",
    "role",
    "priority",
    "password",
    "auth_type",
    "vrrp_version",
    "advert_int",
    "preempt",
    "preempt_delay",
    "sync_interface",
    "sync_mode",
    "sync_port",
    "sync_group",
    "peer_ip",
    "service",
    "vpn",
    "maintenance",
    "backup_route",
];

/// What `config global` says about this node's VRRP instances.
pub(super) struct Settings<'a> {
    pub enabled: bool,
    pub maintenance: bool,
    pub preempt: bool,
    pub preempt_delay_s: u32,
    pub role: Role,
    pub priority: u8,
    pub vrrp_version: VrrpVersion,
    pub advert_ms: u32,
    pub auth_type: AuthType,
    pub password: &'a str,
    pub backup_route: bool,
}

/// The one `config global`; `None` (with the error recorded) when there is none, since
/// everything else depends on it.
pub(super) fn section<'a>(c: &mut Checker<'a>) -> Option<&'a Section> {
    let pkg = c.pkg;
    let globals: Vec<&Section> = pkg.sections_of_type("global").collect();
    let Some(g) = globals.first().copied() else {
        c.errors.push(ConfigError {
            file: pkg.file.clone(),
            line: 0,
            location: "global".into(),
            message: "no 'config global' section".into(),
            allowed: None,
        });
        return None;
    };
    for extra in globals.iter().skip(1) {
        c.err(extra, None, "more than one 'config global' section", None);
    }
    // peer link: its options are validated here, read by model::peer (peer branch)
    let known: Vec<&str> = GLOBAL_OPTIONS.iter().chain(crate::model::peer::OPTIONS).copied().collect();
    c.unknown_options(g, &known);
    for (option, message, allowed) in crate::model::peer::parse(g).1 {
        c.err(g, Some(option), message, Some(allowed));
    }
    Some(g)
}

pub(super) fn settings<'a>(c: &mut Checker, g: &'a Section) -> Settings<'a> {
    let enabled = c.bool_opt(g, "enabled", true);
    let maintenance = c.bool_opt(g, "maintenance", false);
    let preempt = c.bool_opt(g, "preempt", true);
    // keepalived's range; a returning master waits this long before it takes over, so
    // its conntrack cache is full first.
    let preempt_delay_s = c.int_opt(g, "preempt_delay", 0, 1000).unwrap_or(0);
    if preempt_delay_s > 0 && !preempt {
        c.err(g, Some("preempt_delay"), "preempt_delay without preempt does nothing (keepalived nopreempt never takes over)", Some("preempt '1', or no preempt_delay"));
    }
    let backup_route = c.bool_opt(g, "backup_route", true);
    let (role, priority) = role_and_priority(c, g);
    let vrrp_version = vrrp_version(c, g);
    let advert_ms = advert_ms(c, g, vrrp_version);
    let (auth_type, password) = authentication(c, g, vrrp_version);
    Settings { enabled, maintenance, preempt, preempt_delay_s, role, priority, vrrp_version, advert_ms, auth_type, password, backup_route }
}

fn role_and_priority(c: &mut Checker, g: &Section) -> (Role, u8) {
    let role = match g.get("role") {
        Some("master") => Role::Master,
        Some("backup") => Role::Backup,
        Some(other) => {
            c.err(g, Some("role"), format!("unknown role '{}'", other), Some("master, backup"));
            Role::Backup
        }
        None => {
            c.err(g, Some("role"), "role is not set", Some("master, backup"));
            Role::Backup
        }
    };
    let priority = match g.get("priority") {
        None | Some("") => role.default_priority(),
        Some(_) => c.int_opt(g, "priority", 1, 254).map_or(role.default_priority(), |p| p as u8),
    };
    (role, priority)
}

fn vrrp_version(c: &mut Checker, g: &Section) -> VrrpVersion {
    match g.get("vrrp_version") {
        None | Some("2") => VrrpVersion::V2,
        Some("3") => VrrpVersion::V3,
        Some(v) => {
            c.err(g, Some("vrrp_version"), format!("unknown VRRP version '{}'", v), Some("2, 3"));
            VrrpVersion::V2
        }
    }
}

fn advert_ms(c: &mut Checker, g: &Section, vrrp_version: VrrpVersion) -> u32 {
    let Some(v) = g.get("advert_int") else {
        return 1000;
    };
    match (vrrp_version, parse_centiseconds(v)) {
        (VrrpVersion::V2, Some(cs)) if cs % 100 == 0 && (100..=25500).contains(&cs) => cs * 10,
        (VrrpVersion::V2, Some(cs)) if cs % 100 != 0 => {
            c.err(g, Some("advert_int"), format!("sub-second advert interval '{}' needs VRRPv3", v), Some("whole seconds 1..255 with vrrp_version 2; 0.01..40.95 with 3"));
            1000
        }
        (VrrpVersion::V3, Some(cs)) if (1..=4095).contains(&cs) => cs * 10,
        _ => {
            let allowed = if vrrp_version == VrrpVersion::V2 { "whole seconds 1..255" } else { "0.01..40.95 seconds in steps of 0.01" };
            c.err(g, Some("advert_int"), format!("'{}' is not a valid advert interval", v), Some(allowed));
            1000
        }
    }
}

fn authentication<'a>(c: &mut Checker, g: &'a Section, vrrp_version: VrrpVersion) -> (AuthType, &'a str) {
    let password = g.get("password").unwrap_or("");
    let auth_type = match (g.get("auth_type"), vrrp_version) {
        (None, VrrpVersion::V2) if !password.is_empty() => AuthType::Ah,
        (None, _) => AuthType::None,
        (Some("none"), _) => AuthType::None,
        (Some(t @ ("ah" | "pass")), VrrpVersion::V3) => {
            c.err(g, Some("auth_type"), format!("authentication '{}' exists only in VRRPv2", t), Some("none with vrrp_version 3"));
            AuthType::None
        }
        (Some("ah"), _) => AuthType::Ah,
        (Some("pass"), _) => AuthType::Pass,
        (Some(t), _) => {
            c.err(g, Some("auth_type"), format!("unknown auth type '{}'", t), Some("ah, pass, none"));
            AuthType::None
        }
    };
    if auth_type != AuthType::None {
        check_password(c, g, password);
    }
    (auth_type, password)
}

/// Passwords printed in the shipped config (`files/muros_ha.config`) and in the README:
/// anyone who read them knows them, so `check` refuses them. A test keeps this list
/// equal to what those files show.
pub const EXAMPLE_PASSWORDS: &[&str] = &["changeme", "Xk7pQ2wz"];

fn check_password(c: &mut Checker, g: &Section, password: &str) {
    if EXAMPLE_PASSWORDS.contains(&password) {
        c.err(g, Some("password"), format!("'{}' is the example password from the documentation; choose your own, the same on both routers", password), Some("1..8 printable characters of your own"));
    } else if password.is_empty() {
        c.err(g, Some("password"), "a password is required with authentication", Some("1..8 printable characters"));
    } else if password.len() > 8 {
        // keepalived silently truncates to 8: two routers whose passwords differ after
        // the 8th character would still agree, which hides a typo.
        c.err(g, Some("password"), format!("password is {} characters long; VRRPv2 uses at most 8", password.len()), Some("1..8 printable characters"));
    } else if !password_charset_ok(password) {
        c.err(g, Some("password"), "password contains blanks, quotes, '\\', '#' or '!'", Some("printable ASCII without those"));
    }
}

/// At most this many `list vpn` interfaces (each is one ubus call per transition).
const MAX_VPNS: usize = 8;

/// `list vpn`: logical interfaces of `/etc/config/network` that follow the master.
/// Which interfaces they must not be (WAN, sync link, a VIP's) is checked by the caller,
/// which knows those. A tunnel not (yet) in this router's network is fine when `network`
/// is replicated: the master's copy brings it.
pub(super) fn vpns(c: &mut Checker, g: &Section, network: &crate::uci::Package) -> Vec<String> {
    let mut vpns: Vec<String> = Vec::new();
    let replicated = g.list("replicate").contains(&"network");
    for v in g.list("vpn") {
        let section = network.section(v);
        if !crate::uci::is_valid_name(v) {
            c.err(g, Some("vpn"), format!("'{}' is not an interface name", v), Some("a logical interface of /etc/config/network, e.g. wg0"));
        } else if section.is_some_and(|s| s.stype != "interface") || (section.is_none() && !replicated) {
            c.err(g, Some("vpn"), format!("no interface '{}' in /etc/config/network", v), Some("a logical interface of /etc/config/network, e.g. wg0"));
        } else if vpns.len() == MAX_VPNS {
            c.err(g, Some("vpn"), format!("more than {} VPN interfaces", MAX_VPNS), None);
        } else if !vpns.iter().any(|x| x == v) {
            vpns.push(v.to_string());
        }
    }
    vpns
}

/// Names become `/etc/init.d/<name>` paths, so no slashes or dots games.
pub(super) fn services(c: &mut Checker, g: &Section) -> Vec<String> {
    let mut services = Vec::new();
    for s in g.list("service") {
        if is_plain_name(s, 32) && !s.contains("..") {
            if !services.iter().any(|x: &String| x == s) {
                services.push(s.to_string());
            }
        } else {
            c.err(g, Some("service"), format!("'{}' is not an init script name", s), Some("letters, digits, '_', '-', '.'"));
        }
    }
    services
}
