//! Sections → validated, typed configuration.
//!
//! [`load`] reads `muros_ha`, `network` and `system` under a root and returns either a
//! [`Config`] or *every* problem found, each with file, line, `section.option`, what is
//! wrong and what is allowed.

mod load;
mod network;
pub mod peer;
mod types;

pub use load::{default_wan_device, load, load_peer, load_packages, parse_mac, validate, Sources, EXAMPLE_PASSWORDS};
pub use network::resolve_interface;

pub use types::*;

use serde::Serialize;
use std::fmt;

/// One validation problem; JSON `{"file","line","location","message","allowed"?}`
/// (in `validate` and `apply` replies, keys sorted there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the problem is not tied to a line (a missing file).
    pub line: usize,
    /// `section` or `section.option` in `uci show` notation (`@vip[1].vrid`).
    pub location: String,
    pub message: String,
    /// What would be accepted, when that can be said in a few words; left out when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}", self.file, self.line, self.location, self.message)?;
        if let Some(a) = &self.allowed {
            write!(f, " (allowed: {})", a)?;
        }
        Ok(())
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    /// In `validate`/`apply` replies as the previous release had them: keys sorted (the
    /// reply is a `Value`), `allowed` only when there is something to say.
    #[test]
    fn ha_summaries_compare_key_by_key_and_never_carry_the_password() {
        let a = tests_support::minimal_config();
        let s = a.ha_summary();
        assert!(s.starts_with("version=2 advert_ms=1000 auth=pass password_digest="), "{s}");
        assert!(s.ends_with(" vip.lan=10/192.0.2.1/24"), "{s}");
        assert!(!s.contains(a.password.expose()), "{s}");
        assert_eq!(ha_mismatch(&s, &s), None);
        let mut b = a.clone();
        b.advert_ms = 100;
        b.password = Secret::new("other-pw");
        b.vips[0].vrid = 11;
        let m = ha_mismatch(&s, &b.ha_summary()).unwrap();
        assert!(m.starts_with("advert_ms: 1000 here, 100 on the peer; the VRRP passwords differ; vip.lan"), "{m}");
        let digest = s.split_ascii_whitespace().find_map(|w| w.strip_prefix("password_digest=")).unwrap();
        assert!(!m.contains(digest), "{m}");
        assert!(m.ends_with("vip.lan: 10/192.0.2.1/24 here, 11/192.0.2.1/24 on the peer"), "{m}");
        assert!(!m.contains("other-pw") && !m.contains("s3cret-pw"), "{m}");
        // A VIP only one side has.
        let m = ha_mismatch("version=3 vip.lan=10/192.0.2.1/24", "version=3").unwrap();
        assert_eq!(m, "vip.lan: 10/192.0.2.1/24 here, none on the peer");
    }

    #[test]
    fn config_errors_keep_their_reply_shape() {
        let mut e = ConfigError { file: "/etc/config/muros_ha".into(), line: 7, location: "@vip[0].vrid".into(), message: "not a number".into(), allowed: None };
        let reply = |e: &ConfigError| serde_json::json!({ "errors": [e] }).to_string();
        assert_eq!(reply(&e), r#"{"errors":[{"file":"/etc/config/muros_ha","line":7,"location":"@vip[0].vrid","message":"not a number"}]}"#);
        e.allowed = Some("1..255".into());
        assert_eq!(reply(&e), r#"{"errors":[{"allowed":"1..255","file":"/etc/config/muros_ha","line":7,"location":"@vip[0].vrid","message":"not a number"}]}"#);
    }
}

/// A small valid config for unit tests outside this module: VRRPv2, PASS, 1 s
/// adverts, one LAN VIP 192.0.2.1/24 (VRID 10) on br-lan where this router is .2.
#[cfg(test)]
pub mod tests_support {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    pub fn minimal_config() -> Config {
        let net = |a: [u8; 4], prefix| IpNet { addr: IpAddr::V4(Ipv4Addr::from(a)), prefix };
        let iface = |l: &str, d: &str, addrs| Interface { logical: l.into(), device: d.into(), addresses: addrs };
        Config {
            enabled: true,
            role: Role::Master,
            priority: 150,
            maintenance: false,
            auth_type: AuthType::Pass,
            password: Secret::new("s3cret-pw"),
            vrrp_version: VrrpVersion::V2,
            advert_ms: 1000,
            preempt: true,
            preempt_delay_s: 0,
            sync: SyncLink { interface: iface("sync", "eth2", vec![]), mode: SyncMode::Multicast, port: 3780, multicast_group: Ipv4Addr::new(225, 0, 0, 50), local_address: None, peer_ip: None },
            services: vec![],
            vpns: vec![],
            vpn_ports: vec![],
            vips: vec![Vip { name: "lan".into(), interface: iface("lan", "br-lan", vec![net([192, 0, 2, 2], 24)]), address: net([192, 0, 2, 1], 24), vrid: 10, peer_address: None, gateway: None }],
            wan: None,
            router_id: "ra".into(),
            backup_route: true,
            health: vec![],
        }
    }
}
