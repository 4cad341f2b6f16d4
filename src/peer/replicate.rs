//! Config replication, pure part: the digest both nodes compare, and the merge the
//! following node applies (the leader's text, with this node's excluded sections and
//! options kept).
//!
//! The digest covers what is replicated and nothing else: sections and options named
//! in `replicate_exclude` are left out, so a per-node `dhcp.@dnsmasq[0].interface` is
//! not drift; so is everything the peer may never set ([`super::policy`]), which each
//! node keeps as its own. It hashes the parsed content, not the bytes, so a comment or quoting
//! difference is not drift either.

use blake2::{Blake2s256, Digest};
use super::policy;
use crate::model::peer::Exclusion;
use crate::uci::{Editor, Package, Value};

fn excluded_sections(pkg: &Package, excl: &[&Exclusion]) -> Vec<usize> {
    excl.iter().filter(|x| x.option.is_none()).filter_map(|x| pkg.resolve(&x.section)).collect()
}

fn excluded_option(pkg: &Package, excl: &[&Exclusion], index: usize, option: &str) -> bool {
    excl.iter().any(|x| x.option.as_deref() == Some(option) && pkg.resolve(&x.section) == Some(index))
}

/// Exclusions that concern `package`.
pub fn for_package<'a>(package: &str, all: &'a [Exclusion]) -> Vec<&'a Exclusion> {
    all.iter().filter(|x| x.package == package).collect()
}

/// Hex digest of one package's replicated content; `None` text = the file is absent.
/// `vpns` (`list vpn`) says what of `network` is replicated ([`policy::in_scope`]).
pub fn package_digest(text: Option<&str>, name: &str, excl: &[&Exclusion], vpns: &[String]) -> String {
    let mut h = Blake2s256::new();
    match text.map(|t| crate::uci::parse(t, name)) {
        None => h.update(b"absent"),
        Some(Err(_)) => {
            // Unparsable text: hash the bytes, so any change still shows as a change.
            h.update(b"unparsable\0");
            h.update(text.unwrap_or_default().as_bytes());
        }
        Some(Ok(pkg)) => {
            let skip = excluded_sections(&pkg, excl);
            for (i, s) in pkg.sections.iter().enumerate() {
                if skip.contains(&i) || !policy::section_allowed(name, &s.stype) || !policy::in_scope(name, s, vpns) {
                    continue;
                }
                h.update(format!("S\0{}\0{}\n", pkg.display_name(i), s.stype).as_bytes());
                for o in &s.options {
                    if excluded_option(&pkg, excl, i, &o.name) || !policy::option_allowed(name, &o.name, &o.value) || policy::value_checked(name, &o.name) {
                        continue;
                    }
                    h.update(b"O\0");
                    h.update(o.name.as_bytes());
                    match &o.value {
                        Value::Single(v) => {
                            h.update(b"\0s\0");
                            h.update(v.as_bytes());
                        }
                        Value::List(vs) => {
                            for v in vs {
                                h.update(b"\0l\0");
                                h.update(v.as_bytes());
                            }
                        }
                    }
                    h.update(b"\n");
                }
            }
        }
    }
    hex(&h.finalize())
}

/// Hex digest of one `replicate_file` as [`crate::fsutil::read_regular`] gives it
/// (bytes, mode, owner, group); `None` (missing, a symlink, too big) is "absent".
pub fn file_digest(file: Option<&(Vec<u8>, u32, u32, u32)>) -> String {
    let mut h = Blake2s256::new();
    match file {
        None => h.update(b"absent"),
        Some((bytes, mode, uid, gid)) => {
            h.update(format!("file\0{}\0{}\0{}\0", mode, uid, gid).as_bytes());
            h.update(bytes);
        }
    }
    hex(&h.finalize())
}

/// One digest over several packages' digests (sorted by name).
pub fn combined_digest(parts: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = parts.iter().collect();
    crate::sort_small(&mut sorted, |a, b| a < b);
    let mut h = Blake2s256::new();
    for (n, d) in sorted {
        h.update(n.as_bytes());
        h.update(b"=");
        h.update(d.as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize()[..16])
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{:02x}", x)).collect()
}

/// What a follower writes: the merged text, and the items of the leader's it refused.
#[derive(Debug)]
pub struct Merged {
    pub text: String,
    /// `pkg.section[.option]` the peer may not set and that differ here ([`policy::filter`]).
    pub refused: Vec<String>,
}

/// The text this node should hold: `leader_text` with this node's excluded sections and
/// options (from `local_text`) kept, and this node's own values for everything the peer
/// may not set ([`policy`]). The result is parsed again before it is returned.
///
/// When nothing was refused the leader's text is the base (its comments and layout
/// kept); otherwise the filtered sections are written out as `uci export` would.
///
/// A package replicated in part (`network`) is always written out from the filtered
/// sections: the leader's text also holds the leader's own interfaces.
pub fn merge(leader_text: &str, local_text: Option<&str>, name: &str, excl: &[&Exclusion], vpns: &[String]) -> Result<Merged, String> {
    let label = format!("{} from the peer", name);
    let leader = crate::uci::parse(leader_text, &label).map_err(|e| e.to_string())?;
    let local = local_text.and_then(|t| crate::uci::parse(t, name).ok());
    let (filtered, refused) = policy::filter(name, &leader, local.as_ref(), vpns);
    let base = match (name, local_text, &local) {
        ("network", Some(text), Some(own)) => splice_scoped(text, own, &filtered, name, vpns).unwrap_or_else(|| crate::uci::export(&filtered)),
        _ if refused.is_empty() && name != "network" => leader_text.to_string(),
        _ => crate::uci::export(&filtered),
    };
    let mut ed = Editor::new(&base, &label).map_err(|e| e.to_string())?;
    for x in excl {
        let lidx = local.as_ref().and_then(|p| p.resolve(&x.section));
        let local_section = lidx.and_then(|i| local.as_ref().map(|p| &p.sections[i]));
        // A named section the leader lacks is created so the local part has a home;
        // an `@type[N]` one cannot be created by reference and is left out.
        if ed.package().resolve(&x.section).is_none() {
            match (local_section, crate::uci::is_valid_name(&x.section)) {
                (Some(s), true) => {
                    ed.ensure_section(&s.stype, &x.section).map_err(|e| e.to_string())?;
                }
                _ => continue,
            }
        }
        let leader_options: Vec<String> = ed.package().resolve(&x.section).map(|i| ed.package().sections[i].options.iter().map(|o| o.name.clone()).collect()).unwrap_or_default();
        let names: Vec<String> = match &x.option {
            Some(o) => vec![o.clone()],
            None => leader_options.iter().cloned().chain(local_section.map(|s| s.options.iter().map(|o| o.name.clone()).collect::<Vec<_>>()).unwrap_or_default()).collect(),
        };
        for n in names {
            let local_value = local_section.and_then(|s| s.option(&n)).map(|o| o.value.clone());
            match local_value {
                None => ed.delete_option(&x.section, &n),
                Some(Value::Single(v)) => ed.set_option(&x.section, &n, &v),
                Some(Value::List(vs)) => ed.set_list(&x.section, &n, &vs),
            }
            .map_err(|e| e.to_string())?;
        }
    }
    let out = ed.finish();
    crate::uci::parse(&out, &label).map_err(|e| e.to_string())?;
    Ok(Merged { text: out, refused })
}

/// A package replicated in part, as this node writes it: its own text with the
/// replicated sections cut out and `filtered`'s appended, so the admin's comments and
/// layout stay. `None` when that text would not read back as `filtered` (a statement
/// sharing a line with another section, say): then it is written out whole.
fn splice_scoped(local_text: &str, local: &Package, filtered: &Package, name: &str, vpns: &[String]) -> Option<String> {
    let lines: Vec<&str> = local_text.split_inclusive('\n').collect();
    let mut cut = vec![false; lines.len()];
    for (i, s) in local.sections.iter().enumerate() {
        if policy::in_scope(name, s, vpns) {
            let start = s.line.checked_sub(1)?;
            let mut end = local.sections.get(i + 1).map_or(lines.len(), |n| n.line - 1);
            // Comment lines right before the next section are about that one.
            while end > start + 1 && lines.get(end - 1).is_some_and(|l| l.trim_start().starts_with('#')) {
                end -= 1;
            }
            cut.get_mut(start..end)?.iter_mut().for_each(|c| *c = true);
        }
    }
    let mut out: String = lines.iter().zip(&cut).filter(|(_, c)| !**c).map(|(l, _)| *l).collect();
    let tail = Package { sections: filtered.sections.iter().filter(|s| policy::in_scope(name, s, vpns)).cloned().collect(), ..filtered.clone() };
    if !tail.sections.is_empty() {
        while !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(&crate::uci::export(&tail));
    }
    let back = crate::uci::parse(&out, name).ok()?;
    let same = back.sections.len() == filtered.sections.len() && back.sections.iter().zip(&filtered.sections).all(|(a, b)| policy::same_section(a, b));
    same.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::peer::parse_exclusion;

    const LEADER: &str = "config dnsmasq\n\toption domain 'lan'\n\toption interface 'br-lan'\n\nconfig host 'printer'\n\toption ip '192.0.2.9'\n";
    const LOCAL: &str = "config dnsmasq\n\toption domain 'old'\n\toption interface 'eth9'\n\nconfig host 'printer'\n\toption ip '192.0.2.8'\n";

    #[test]
    fn an_excluded_option_keeps_the_local_value_and_does_not_count_in_the_digest() {
        let x = [parse_exclusion("dhcp.@dnsmasq[0].interface").unwrap()];
        let ex = for_package("dhcp", &x);
        let merged = merge(LEADER, Some(LOCAL), "dhcp", &ex, &[]).unwrap().text;
        let p = crate::uci::parse(&merged, "dhcp").unwrap();
        assert_eq!(p.sections[0].get("interface"), Some("eth9"));
        assert_eq!(p.sections[0].get("domain"), Some("lan"));
        assert_eq!(p.sections[1].get("ip"), Some("192.0.2.9"));
        assert_eq!(package_digest(Some(&merged), "dhcp", &ex, &[]), package_digest(Some(LEADER), "dhcp", &ex, &[]));
        assert_ne!(package_digest(Some(LOCAL), "dhcp", &ex, &[]), package_digest(Some(LEADER), "dhcp", &ex, &[]));
    }

    #[test]
    fn an_excluded_section_is_kept_whole() {
        let x = [parse_exclusion("dhcp.printer").unwrap()];
        let ex = for_package("dhcp", &x);
        let merged = merge(LEADER, Some(LOCAL), "dhcp", &ex, &[]).unwrap().text;
        let p = crate::uci::parse(&merged, "dhcp").unwrap();
        assert_eq!(p.section("printer").unwrap().get("ip"), Some("192.0.2.8"));
        assert_eq!(p.sections[0].get("domain"), Some("lan"));
    }

    #[test]
    fn comments_and_quoting_are_not_drift_but_a_value_is() {
        let a = "config zone 'lan'\n\toption input 'ACCEPT'\n";
        let b = "# edited\nconfig zone lan\n\toption input ACCEPT\n";
        let c = "config zone 'lan'\n\toption input 'DROP'\n";
        assert_eq!(package_digest(Some(a), "firewall", &[], &[]), package_digest(Some(b), "firewall", &[], &[]));
        assert_ne!(package_digest(Some(a), "firewall", &[], &[]), package_digest(Some(c), "firewall", &[], &[]));
        assert_ne!(package_digest(None, "firewall", &[], &[]), package_digest(Some(a), "firewall", &[], &[]));
    }

    /// The digest is compared with the peer's, which may run the previous release (the
    /// `blake2` crate): the same content must give the same bytes. Values recorded from
    /// that release; the two cases whose hashed bytes are simple are also recomputed live.
    #[test]
    fn digests_are_those_of_the_previous_release() {
        use blake2::Digest;
        let x = [parse_exclusion("dhcp.@dnsmasq[0].interface").unwrap()];
        let ex = for_package("dhcp", &x);
        let d1 = package_digest(Some(LEADER), "dhcp", &[], &[]);
        assert_eq!(d1, "9e918d69d84794d3c02c12c76dc12d111d4b1d1353a5c49e1c6a9f721d517824");
        assert_eq!(package_digest(Some(LEADER), "dhcp", &ex, &[]), "ed66e5e191e0f8cac5168f49b9120b2cf1b8725f9334ad0dff5c825752bdaf27");
        let absent = package_digest(None, "firewall", &[], &[]);
        assert_eq!(absent, "551d4a7c51a5eb3539da82c397dcf58e04aa9fcb0161b0428b91d493aee17582");
        assert_eq!(absent, hex(&blake2::Blake2s256::digest(b"absent")));
        let garbage = "config 'unterminated\n";
        let unparsable = package_digest(Some(garbage), "x", &[], &[]);
        assert_eq!(unparsable, "662a1db8b35442eea19aa6348b48ec2d0701a002e7d7116fcf6cb69e565879cd");
        assert_eq!(unparsable, hex(&blake2::Blake2s256::new().chain_update(b"unparsable\0").chain_update(garbage).finalize()));
        let d5 = package_digest(Some("config zone 'lan'\n\tlist network 'lan'\n\tlist network 'wan'\n"), "firewall", &[], &[]);
        assert_eq!(d5, "a3c6b367535924d319e0465ee8ddd002620af81d46f02bf5f6ed6edec104dbc4");
        let parts = [("firewall".to_string(), d5), ("dhcp".to_string(), d1)];
        assert_eq!(combined_digest(&parts), "96a7ddef28aad6f64480280a5b5b449e");
    }

    #[test]
    fn garbage_from_the_leader_is_refused() {
        assert!(merge("config 'unterminated\n", Some(LOCAL), "dhcp", &[], &[]).is_err());
    }

    /// A refused item is per node: after the merge both digests agree (no drift, no
    /// push loop), and a local edit of a refused option is not drift either.
    #[test]
    fn refused_items_never_make_the_digests_differ() {
        let local = "config dnsmasq\n\toption domain 'lan'\n\nconfig include 'muros_ha'\n\toption path '/etc/muros-ha/fw4-input.nft'\n";
        let leader = "config dnsmasq\n\toption domain 'lan2'\n\toption dhcpscript '/tmp/evil.sh'\n\nconfig include\n\toption path '/tmp/evil'\n";
        let m = merge(leader, Some(local), "dhcp", &[], &[]).unwrap();
        assert_eq!(m.refused, ["dhcp.@dnsmasq[0].dhcpscript", "dhcp.@include[0]", "dhcp.muros_ha"]);
        assert!(!m.text.contains("evil"), "{}", m.text);
        assert!(m.text.contains("/etc/muros-ha/fw4-input.nft"));
        assert_eq!(package_digest(Some(&m.text), "dhcp", &[], &[]), package_digest(Some(leader), "dhcp", &[], &[]));
        let edited = m.text.replace("config dnsmasq\n", "config dnsmasq\n\toption dhcpscript '/usr/bin/mine'\n");
        assert_eq!(package_digest(Some(&edited), "dhcp", &[], &[]), package_digest(Some(leader), "dhcp", &[], &[]));
        // Merging the same again refuses the same, and writes the same bytes.
        let again = merge(leader, Some(&m.text), "dhcp", &[], &[]).unwrap();
        assert_eq!(again.text, m.text);
        // Nothing refused: the leader's text as it is, comments included.
        let plain = "# from the master\nconfig dnsmasq\n\toption domain 'lan'\n";
        let m = merge(plain, Some(local), "dhcp", &[], &[]).unwrap();
        assert_eq!(m.refused, ["dhcp.muros_ha"]);
        let m = merge(plain, Some("config dnsmasq\n"), "dhcp", &[], &[]).unwrap();
        assert!(m.refused.is_empty());
        assert_eq!(m.text, plain);
    }

    /// The digest of `network` is the tunnel's only: the two routers' own LANs differ
    /// without drift; a new key on the master is a change to push. The merge keeps
    /// this router's own sections and never takes the leader's.
    #[test]
    fn network_digest_and_merge_cover_the_vpn_tunnel_only() {
        let vpns = ["wg0".to_string()];
        let leader = "config interface 'lan'\n\toption ipaddr '192.0.2.2'\n\nconfig interface 'wg0'\n\toption proto 'wireguard'\n\toption private_key 'K1'\n\nconfig wireguard_wg0\n\toption public_key 'FAR'\n";
        let local = "# this router\nconfig interface 'lan'\n\toption ipaddr '192.0.2.3'\n\nconfig interface 'wg0'\n\toption proto 'wireguard'\n\toption private_key 'OLD'\n\n# the uplink\nconfig interface 'wan'\n\toption proto 'dhcp'\n";
        let d = |t: &str| package_digest(Some(t), "network", &[], &vpns);
        assert_ne!(d(leader), d(local));
        let m = merge(leader, Some(local), "network", &[], &vpns).unwrap();
        assert!(m.refused.is_empty(), "{:?}", m.refused);
        assert_eq!(d(&m.text), d(leader));
        let p = crate::uci::parse(&m.text, "network").unwrap();
        assert_eq!(p.section("lan").unwrap().get("ipaddr"), Some("192.0.2.3"));
        assert_eq!(p.section("wg0").unwrap().get("private_key"), Some("K1"));
        assert_eq!(p.sections_of_type("wireguard_wg0").count(), 1);
        // This router's text stays as it was (comments too); the tunnel is replaced.
        assert!(m.text.starts_with("# this router\nconfig interface 'lan'\n\toption ipaddr '192.0.2.3'\n\n# the uplink\nconfig interface 'wan'\n"), "{}", m.text);
        assert!(!m.text.contains("OLD"), "{}", m.text);
        // Merging again changes nothing.
        assert_eq!(merge(leader, Some(&m.text), "network", &[], &vpns).unwrap().text, m.text);
        assert_eq!(d(&leader.replace("192.0.2.2", "192.0.2.9")), d(leader), "the leader's LAN is not the peer's business");
        assert_ne!(d(&leader.replace("K1", "K2")), d(leader));
        // Without `list vpn` the digest of network does not see the tunnel either.
        assert_eq!(package_digest(Some(leader), "network", &[], &[]), package_digest(Some(local), "network", &[], &[]));
        // A statement sharing a line with the tunnel's section: written out whole.
        let tangled = "config interface 'lan'\n\toption ipaddr '192.0.2.3'; config interface 'wg0'\n\toption proto 'wireguard'\n";
        if let Ok(m) = merge(leader, Some(tangled), "network", &[], &vpns) {
            let p = crate::uci::parse(&m.text, "network").unwrap();
            assert_eq!((p.section("lan").unwrap().get("ipaddr"), p.section("wg0").unwrap().get("private_key")), (Some("192.0.2.3"), Some("K1")));
        }
    }

    /// A key path refused from the leader keeps ours, and that is not drift: the
    /// digests agree after the merge, so the pair shows in_sync and does not push again.
    #[test]
    fn a_refused_openvpn_key_path_is_no_drift() {
        let leader = "config openvpn 'server'\n\toption port '1194'\n\toption key '/root/server.key'\n\toption up '/tmp/x.sh'\n";
        let local = "config openvpn 'server'\n\toption port '1190'\n\toption key '/etc/openvpn/server.key'\n";
        let m = merge(leader, Some(local), "openvpn", &[], &[]).unwrap();
        assert_eq!(m.refused, ["openvpn.server.key", "openvpn.server.up"]);
        assert!(m.text.contains("option port '1194'") && m.text.contains("/etc/openvpn/server.key") && !m.text.contains("/tmp/x.sh"), "{}", m.text);
        assert_eq!(package_digest(Some(&m.text), "openvpn", &[], &[]), package_digest(Some(leader), "openvpn", &[], &[]));
    }
}
