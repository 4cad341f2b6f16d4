//! `/etc/config/dhcp` with the VIP as gateway and DNS server of every DHCP client on a
//! VIP interface (seed 001: `list dhcp_option '3,<VIP>'`, `list dhcp_option '6,<VIP>'`,
//! `option force '1'`).
//!
//! Why: dnsmasq hands out the router's *own* LAN address as gateway and DNS unless told
//! otherwise, so after a failover every client keeps a dead gateway until its lease
//! renews. `force` keeps dnsmasq serving when it sees the peer's DHCP server.
//!
//! What we added is written down in the section itself, as `list muros_ha_added
//! 'dhcp_option=3,192.0.2.1'` (one per entry, `force=1` for force). Comparing with "the
//! VIP we rendered last time" kept in /etc/muros-ha could not tell our `3,<VIP>` from the
//! same entry typed by the admin, nor whether `force` was there before us, and it would
//! drift from the file when a backup of /etc/config alone is restored. The record sits
//! next to the entries it names, travels with them, and is ignored by dnsmasq's init
//! script and LuCI. So:
//! - an entry is removed only if the record names it (an admin's own `3,<VIP>`, `42,…`
//!   or `force` is never touched, on any run);
//! - a VIP change replaces our two entries; HA disabled (`enabled '0'`), the VIP gone,
//!   the interface gone or `ignore '1'` removes them and the record;
//! - an admin's own option 3/6 with another value wins: ours is not added (two values
//!   for one option leave the choice to dnsmasq), and a warning says clients will not
//!   follow the VIP.
//!
//! Pure: text in, text and warnings out. Every edit goes through [`Editor`], so comments
//! and unrelated lines keep their bytes and a second run changes nothing.

use crate::model::{Config, ConfigError};
use crate::uci::{Editor, Section, UciError};
use std::net::{IpAddr, Ipv4Addr};

/// The list option recording what muros-ha added to a `config dhcp` section.
pub const MARKER: &str = "muros_ha_added";

/// The edited text and the admin settings that keep clients off the VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpEdit {
    pub text: String,
    pub warnings: Vec<ConfigError>,
}

/// What muros-ha owns in one section: `dhcp_option` values and whether `force` is ours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Owned {
    options: Vec<String>,
    force: bool,
}

impl Owned {
    fn from_marker(s: &Section) -> Owned {
        let mut o = Owned::default();
        for entry in s.list(MARKER) {
            match entry.split_once('=') {
                Some(("dhcp_option", v)) => o.options.push(v.to_string()),
                Some(("force", "1")) => o.force = true,
                _ => {}
            }
        }
        o
    }
    fn to_marker(&self) -> Vec<String> {
        let mut out: Vec<String> = self.options.iter().map(|v| format!("dhcp_option={v}")).collect();
        if self.force {
            out.push("force=1".into());
        }
        out
    }
}

/// `text` (the file labelled `file`) with our options set for `cfg`.
pub fn with_vip_gateway(text: &str, file: &str, cfg: &Config) -> Result<DhcpEdit, UciError> {
    let mut ed = Editor::new(text, file)?;
    let mut warnings = Vec::new();
    // Edits never add or remove sections, so the indices stay valid.
    for i in 0..ed.package().sections.len() {
        if ed.package().sections[i].stype != "dhcp" {
            continue;
        }
        let (before, want) = owned_now_and_wanted(&ed, i, cfg, &mut warnings)?;
        if before != want {
            apply(&mut ed, i, &before, &want)?;
        }
    }
    Ok(DhcpEdit { text: ed.finish(), warnings })
}

/// The IPv4 VIP whose clients this section serves, if HA should set it there.
fn served_vip(s: &Section, cfg: &Config) -> Option<Ipv4Addr> {
    if !cfg.enabled || s.get("ignore").is_some_and(is_true) {
        return None;
    }
    let iface = s.get("interface")?;
    cfg.vips.iter().find_map(|v| match v.address.addr {
        IpAddr::V4(a) if v.interface.logical == iface && v.gateway.is_none() => Some(a),
        _ => None,
    })
}

/// What dnsmasq's init script reads as true (`config_get_bool`).
fn is_true(v: &str) -> bool {
    matches!(v, "1" | "on" | "true" | "yes" | "enabled")
}

/// What the record says we own in section `i`, and what we should own now. Warns for
/// each admin option 3/6 that keeps ours out.
fn owned_now_and_wanted(ed: &Editor, i: usize, cfg: &Config, warnings: &mut Vec<ConfigError>) -> Result<(Owned, Owned), UciError> {
    let pkg = ed.package();
    let s = &pkg.sections[i];
    let before = Owned::from_marker(s);
    let Some(vip) = served_vip(s, cfg) else { return Ok((before, Owned::default())) };
    let admin = admin_entries(ed, i, &before)?;
    let mut want = Owned::default();
    for (code, what) in [(3u8, "gateway"), (6u8, "DNS server")] {
        let ours = format!("{code},{vip}");
        if admin.iter().any(|e| e.value == ours) {
            // The admin's own entry already says it: nothing to add, nothing to own.
            continue;
        }
        let conflicting: Vec<&AdminEntry> = admin.iter().filter(|e| plain_option_code(&e.value) == Some(code)).collect();
        for e in &conflicting {
            warnings.push(ConfigError {
                file: pkg.file.clone(),
                line: e.line,
                location: format!("dhcp.{}.{}", pkg.display_name(i), e.option),
                message: format!(
                    "'{}' hands DHCP clients on '{}' another {what} than the VIP {vip}; muros-ha leaves an admin's own option in place, so these clients will not follow the VIP on failover (remove it to let muros-ha hand out '{ours}')",
                    e.value,
                    s.get("interface").unwrap_or("?"),
                ),
                allowed: None,
            });
        }
        if conflicting.is_empty() {
            want.options.push(ours);
        }
    }
    // `force` is ours if we set it and it still says so, or if there is none: an admin's
    // own `force` (even '0') is left to them.
    want.force = match s.get("force") {
        None => true,
        Some("1") => before.force,
        Some(_) => false,
    };
    Ok((before, want))
}

/// One `dhcp_option`/`dhcp_option_force` value the admin set, with its line.
struct AdminEntry {
    option: &'static str,
    value: String,
    line: usize,
}

/// The section's DHCP options minus the ones the record says are ours.
fn admin_entries(ed: &Editor, i: usize, ours: &Owned) -> Result<Vec<AdminEntry>, UciError> {
    let pkg = ed.package();
    let s = &pkg.sections[i];
    let id = pkg.uci_id(i);
    let mut left: Vec<&str> = ours.options.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for option in ["dhcp_option", "dhcp_option_force"] {
        let lines = ed.list_value_lines(&id, option)?;
        for (value, line) in s.list(option).into_iter().zip(lines) {
            if option == "dhcp_option" {
                if let Some(k) = left.iter().position(|o| *o == value) {
                    left.remove(k);
                    continue;
                }
            }
            out.push(AdminEntry { option, value: value.to_string(), line });
        }
    }
    Ok(out)
}

/// The DHCP option a dnsmasq `dhcp-option` value sets for every client of its section:
/// `3,…` or `option:router,…` give 3. `None` for a tagged value (`tag:x,3,…` goes to
/// clients the admin picked, and dnsmasq prefers it over ours for them), for
/// encapsulated, vendor and IPv6 options.
fn plain_option_code(value: &str) -> Option<u8> {
    let first = value.split(',').next()?.trim_ascii();
    match first.strip_prefix("option:") {
        Some("router") => Some(3),
        Some("dns-server") => Some(6),
        Some(_) => None,
        None => first.parse().ok(),
    }
}

/// Take back what we own and no longer want, add what we want and lack, then rewrite
/// the record.
fn apply(ed: &mut Editor, i: usize, before: &Owned, want: &Owned) -> Result<(), UciError> {
    let id = ed.package().uci_id(i);
    for v in &before.options {
        if !want.options.contains(v) {
            ed.remove_list_value(&id, "dhcp_option", v)?;
        }
    }
    for v in &want.options {
        // Owned but gone from the list (removed by hand): put it back, like every edit
        // of ours comes back on the next render.
        if !ed.package().sections[i].list("dhcp_option").contains(&v.as_str()) {
            ed.add_list_value(&id, "dhcp_option", v)?;
        }
    }
    if want.force {
        ed.set_option(&id, "force", "1")?;
    } else if before.force && ed.package().sections[i].get("force") == Some("1") {
        ed.delete_option(&id, "force")?;
    }
    ed.set_list(&id, MARKER, &want.to_marker())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_codes_are_read_the_way_dnsmasq_reads_them() {
        assert_eq!(plain_option_code("3,192.0.2.254"), Some(3));
        assert_eq!(plain_option_code("3"), Some(3), "a bare 3 hands out no gateway at all");
        assert_eq!(plain_option_code("option:router,192.0.2.254"), Some(3));
        assert_eq!(plain_option_code("option:dns-server,192.0.2.53,192.0.2.54"), Some(6));
        assert_eq!(plain_option_code("42,192.0.2.10"), Some(42));
        assert_eq!(plain_option_code("option:ntp-server,192.0.2.10"), None);
        assert_eq!(plain_option_code("tag:voip,3,192.0.2.254"), None);
        assert_eq!(plain_option_code("option6:dns-server,[::]"), None);
        assert_eq!(plain_option_code("vendor:MSFT,2,1i"), None);
        assert_eq!(plain_option_code(""), None);
    }

    #[test]
    fn the_record_reads_back_what_it_wrote() {
        let o = Owned { options: vec!["3,192.0.2.1".into(), "6,192.0.2.1".into()], force: true };
        let text = format!("config dhcp 'lan'\n{}", o.to_marker().iter().map(|v| format!("\tlist {MARKER} '{v}'\n")).collect::<String>());
        let pkg = crate::uci::parse(&text, "dhcp").unwrap();
        assert_eq!(Owned::from_marker(&pkg.sections[0]), o);
    }
}
