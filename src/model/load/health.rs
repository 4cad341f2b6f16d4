//! `config health`: upstream checks (any number; all must pass).
//!
//! ```text
//! config health 'upstream'
//!     list target '203.0.113.2'
//!     option method 'icmp'      # icmp | tcp
//!     option port ''            # tcp only
//!     option interval '1'       # seconds
//!     option fall '3'           # failed rounds before down
//!     option rise '2'           # passed rounds before up
//! ```

use super::{is_plain_name, Checker};
use crate::model::types::{HealthCheck, ProbeMethod};
use crate::uci::Section;
use std::net::IpAddr;

const HEALTH_OPTIONS: &[&str] = &["target", "method", "port", "interval", "fall", "rise"];
/// Targets per check: a round probes them all at once.
pub const MAX_TARGETS: usize = 8;
/// Checks per config (each is a probe round per interval).
pub const MAX_CHECKS: usize = 8;

pub(super) fn checks(c: &mut Checker) -> Vec<HealthCheck> {
    let pkg = c.pkg;
    let sections: Vec<&Section> = pkg.sections_of_type("health").collect();
    for extra in sections.iter().skip(MAX_CHECKS) {
        c.err(extra, None, format!("more than {} 'config health' sections", MAX_CHECKS), None);
    }
    let mut out = Vec::new();
    for (n, s) in sections.iter().take(MAX_CHECKS).enumerate() {
        c.unknown_options(s, HEALTH_OPTIONS);
        let name = s.name.as_deref().filter(|n| is_plain_name(n, 32)).map_or_else(|| format!("health{}", n + 1), str::to_string);
        let targets = targets(c, s);
        let method = method(c, s);
        let interval_s = c.int_opt(s, "interval", 1, 60).unwrap_or(1);
        let fall = c.int_opt(s, "fall", 1, 20).unwrap_or(3);
        let rise = c.int_opt(s, "rise", 1, 20).unwrap_or(2);
        if let (Some(targets), Some(method)) = (targets, method) {
            out.push(HealthCheck { name, targets, method, interval_s, fall, rise });
        }
    }
    out
}

fn targets(c: &mut Checker, s: &Section) -> Option<Vec<IpAddr>> {
    let list = s.list("target");
    if list.is_empty() {
        c.err(s, Some("target"), "no target", Some("one or more addresses beyond the ISP's gateway, e.g. list target '203.0.113.2'"));
        return None;
    }
    if list.len() > MAX_TARGETS {
        c.err(s, Some("target"), format!("{} targets", list.len()), Some(&format!("at most {}", MAX_TARGETS)));
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for t in list {
        match t.parse::<IpAddr>() {
            Ok(a) if a.is_unspecified() || a.is_loopback() || a.is_multicast() => {
                c.err(s, Some("target"), format!("'{}' cannot be probed upstream", t), Some("a unicast address reached through the WAN"));
                ok = false;
            }
            Ok(a) => {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            Err(_) => {
                c.err(s, Some("target"), format!("'{}' is not an IP address", t), Some("an IPv4 or IPv6 address (no host names: DNS may be what is down)"));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn method(c: &mut Checker, s: &Section) -> Option<ProbeMethod> {
    let port = s.get("port").filter(|p| !p.is_empty());
    match s.get("method").unwrap_or("icmp") {
        "icmp" => {
            if port.is_some() {
                c.err(s, Some("port"), "port is for method 'tcp' only", Some("leave it empty with icmp"));
                return None;
            }
            Some(ProbeMethod::Icmp)
        }
        "tcp" => match port.map(|p| (p, super::parse_uint(p))) {
            Some((_, Some(n))) if (1..=65535).contains(&n) => Some(ProbeMethod::Tcp(n as u16)),
            Some((p, _)) => {
                c.err(s, Some("port"), format!("'{}' is not a port", p), Some("1..65535"));
                None
            }
            None => {
                c.err(s, Some("port"), "method 'tcp' needs a port", Some("1..65535, e.g. 443"));
                None
            }
        },
        other => {
            c.err(s, Some("method"), format!("unknown method '{}'", other), Some("icmp, tcp"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::load::{validate, Sources};
    use crate::model::{HealthCheck, ProbeMethod};

    fn sources(extra: &str) -> Sources {
        let muros = format!("config global 'global'\n\toption role 'master'\n\toption sync_interface 'sync'\n\nconfig vip 'lan'\n\toption interface 'lan'\n\toption address '192.0.2.1/24'\n{extra}");
        let network = "config interface 'lan'\n\toption device 'br-lan'\n\toption proto 'static'\n\toption ipaddr '192.0.2.2/24'\n\nconfig interface 'sync'\n\toption device 'eth2'\n\toption proto 'static'\n\toption ipaddr '198.18.0.1/30'\n";
        Sources { muros: crate::uci::parse(&muros, "/etc/config/muros_ha").unwrap(), network: crate::uci::parse(network, "/etc/config/network").unwrap(), system: None, warnings: vec![] }
    }

    #[test]
    fn the_issue_example_loads_with_its_defaults() {
        let cfg = validate(&sources("\nconfig health 'upstream'\n\tlist target '203.0.113.2'\n\tlist target '2001:db8::2'\n\tlist target '203.0.113.2'\n\nconfig health 'web'\n\tlist target '198.51.100.7'\n\toption method 'tcp'\n\toption port '443'\n\toption interval '2'\n\toption fall '5'\n\toption rise '1'\n")).unwrap();
        assert_eq!(
            cfg.health,
            vec![
                HealthCheck { name: "upstream".into(), targets: vec!["203.0.113.2".parse().unwrap(), "2001:db8::2".parse().unwrap()], method: ProbeMethod::Icmp, interval_s: 1, fall: 3, rise: 2 },
                HealthCheck { name: "web".into(), targets: vec!["198.51.100.7".parse().unwrap()], method: ProbeMethod::Tcp(443), interval_s: 2, fall: 5, rise: 1 },
            ]
        );
        assert!(validate(&sources("")).unwrap().health.is_empty());
    }

    /// Every bad option: its own error with file, line and `section.option`.
    #[test]
    fn each_bad_option_is_reported_where_it_is() {
        let text = "\nconfig health 'up'\n\tlist target 'isp.example'\n\tlist target '127.0.0.1'\n\toption method 'http'\n\toption interval '0'\n\toption fall '21'\n\toption rise 'x'\n\toption bogus '1'\n\nconfig health 'tcp'\n\tlist target '203.0.113.2'\n\toption method 'tcp'\n\nconfig health 'icmp'\n\tlist target '203.0.113.2'\n\toption port '80'\n\nconfig health 'none'\n";
        let errors = validate(&sources(text)).unwrap_err();
        let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.location.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (11, "up.target"),
                (11, "up.target"),
                (12, "up.method"),
                (13, "up.interval"),
                (14, "up.fall"),
                (15, "up.rise"),
                (16, "up.bogus"),
                (18, "tcp.port"),
                (24, "icmp.port"),
                (26, "none.target"),
            ],
            "{errors:#?}"
        );
        assert!(errors.iter().all(|e| e.file == "/etc/config/muros_ha"));
        assert!(errors[0].message.contains("not an IP address"), "{}", errors[0]);
        assert!(errors[1].message.contains("cannot be probed"), "{}", errors[1]);
        assert!(errors[2].message.contains("unknown method 'http'"), "{}", errors[2]);
        assert!(errors[7].message.contains("needs a port"), "{}", errors[7]);
        assert!(errors[9].message.contains("no target"), "{}", errors[9]);
    }
}
