//! What the peer may change in a replicated package: the trust model, as code.
//!
//! A peer holds the pairing key, which is one file on one router; if that key leaks,
//! the peer link must not be a way to run code or touch files on this router. So a
//! follower takes from the leader only the section types and options listed here:
//! firewall policy, zones, rules, redirects, NAT and sets; DHCP pools, static hosts and
//! DNS records and dnsmasq's plain settings. Never taken, whatever the peer sends:
//!
//! - anything that runs a program: firewall `config include` (scripts and nft files),
//!   dnsmasq `dhcpscript`, odhcpd `leasetrigger`;
//! - anything that names a file or directory on this router: `leasefile`, `resolvfile`,
//!   `addnhosts`, `serversfile`, `dhcphostsfile`, `confdir`, `tftp_root` (and
//!   `enable_tftp`, which would serve it), `logfacility` (a file path for dnsmasq),
//!   odhcpd `hostsfile`/`piofolder`, ipset `loadfile`;
//! - raw text passed to another parser: fw4's `extra*` options (nft text);
//! - any value with a control character: OpenWrt's dnsmasq init script writes values
//!   into `dnsmasq.conf` one per line, so a newline in any value is a new dnsmasq
//!   directive (`dhcp-script=…`);
//! - section types and options not listed (new or unknown ones): refused until listed.
//!
//! `network` is replicated only in part (issue 18): the `list vpn` interfaces and
//! their WireGuard peers (`config wireguard_<vpn>`), which both routers must hold alike
//! for the far side to see one endpoint. Every other section (LAN, WAN, sync, devices)
//! is this router's own, out of scope: neither taken, nor refused, nor in the digest.
//!
//! A refused item keeps this node's own value (or its absence) and is reported
//! (`status.peer.refused`, the log). Refused items are also left out of the replication
//! digest, like `replicate_exclude` entries: they are per node by definition, so a
//! difference there is not drift and does not make the leader push again.

use crate::uci::{Package, Section, Value};

/// Section types the peer may set, and the options it may set in them, per package
/// (one space-separated list per package: far less code than a table of slices).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "firewall",
        " defaults zone forwarding rule redirect nat ipset ",
        " name enabled family input output forward drop_invalid syn_flood synflood_protect \
         synflood_rate synflood_burst tcp_syncookies tcp_ecn tcp_window_scaling accept_redirects \
         accept_source_route custom_chains disable_ipv6 flow_offloading flow_offloading_hw \
         tcp_reject_code any_reject_code auto_helper auto_includes network device subnet masq masq6 \
         masq_src masq_dest masq_allow_invalid mtu_fix log log_limit counter conntrack helper src \
         dest src_ip src_mac src_port dest_ip dest_port proto icmp_type target mark set_mark \
         set_xmark dscp set_dscp set_helper limit limit_burst start_date stop_date start_time \
         stop_time weekdays monthdays utc_time direction ipset src_dip src_dport reflection \
         reflection_src reflection_zone snat_ip snat_port storage match iprange portrange netmask \
         maxelem hashsize timeout entry comment counters ",
    ),
    (
        "dhcp",
        " dnsmasq dhcp host domain hostrecord cname mxhost srvhost mac tag vendorclass userclass \
         circuitid remoteid subscrid match boot relay ipset odhcpd ",
        " authoritative domainneeded filterwin2k nohosts nonegcache strictorder logqueries noresolv \
         localise_queries readethers dbus ubus expandhosts nonwildcard fqdn proxydnssec localservice \
         logdhcp quietdhcp sequential_ip allservers noping rapidcommit scriptarp filter_aaaa filter_a \
         mini_ttl cachesize dnsforwardmax port ednspacket_max dhcpleasemax queryport minport maxport \
         domain local listen_address server rev_server address ipset connmark_allowlist_enable \
         connmark_allowlist interface notinterface ignore_hosts_dir bogusnxdomain dhcp_boot \
         local_ttl max_ttl min_cache_ttl max_cache_ttl pxe_prompt pxe_service add_local_domain \
         add_local_hostname add_local_fqdn add_wan_fqdn cachelocal localuse rebind_protection \
         rebind_localhost rebind_domain dnssec dnsseccheckunsigned addmac dhcp_option \
         dhcp_option_force dhcpbogushostname boguspriv dns_redirect instance networkid ignore force \
         netmask start limit leasetime options dynamicdhcp dhcpv4 dhcpv6 ra ra_management \
         ra_preference ra_default ra_flags ra_slaac ra_maxinterval ra_mininterval ra_lifetime \
         ra_useleasetime ra_mtu ra_hoplimit ra_reachabletime ra_retranstime ra_dns ra_pref64 ndp \
         ndproxy_routing ndproxy_slave master dns dns_service ntp preferred_lifetime \
         max_preferred_lifetime max_valid_lifetime prefix_filter dhcpv6_assignall dhcpv6_pd \
         dhcpv6_pd_min_len dhcpv6_na dhcpv6_hostidlength pd_min_len interface_name tag name ip mac \
         duid hostid enable broadcast match_tag cname target srv class weight relay pref vendorclass \
         userclass circuitid remoteid subscriberid match filename servername serveraddress \
         local_addr server_addr maindhcp loglevel legacy table table_family ",
    ),
    (
        "openvpn",
        " openvpn ",
        " enabled port lport local proto dev dev_type server server_ipv6 server_bridge topology \
         keepalive persist_key persist_tun cipher data_ciphers data_ciphers_fallback ncp_ciphers \
         auth tls_server tls_client tls_version_min tls_cipher remote_cert_tls verify_x509_name \
         key_direction verb mute client_to_client duplicate_cn push route route_ipv6 comp_lzo \
         compress max_clients mode float fragment mssfix tun_mtu reneg_sec hand_window \
         tran_window explicit_exit_notify ifconfig ifconfig_ipv6 ifconfig_pool txqueuelen \
         sndbuf rcvbuf fast_io multihome nobind user group \
         ca cert key dh tls_auth tls_crypt tls_crypt_v2 crl_verify secret pkcs12 extra_certs ",
    ),
    (
        "network",
        " interface ",
        " proto private_key listen_port addresses mtu fwmark nohostroute ip6prefix public_key \
         preshared_key allowed_ips route_allowed_ips endpoint_host endpoint_port \
         persistent_keepalive description disabled ",
    ),
];

/// The sections of `package` replication is about: all of them, but for `network`,
/// where only the `list vpn` interfaces (`vpns`) and their WireGuard peers are.
pub fn in_scope(package: &str, s: &Section, vpns: &[String]) -> bool {
    let listed = |name: &str| vpns.iter().any(|v| v == name);
    package != "network"
        || match s.stype.strip_prefix("wireguard_") {
            Some(iface) => listed(iface),
            None => s.stype == "interface" && s.name.as_deref().is_some_and(listed),
        }
}

fn lists(package: &str) -> Option<(&'static str, &'static str)> {
    ALLOWED.iter().find(|(p, _, _)| *p == package).map(|&(_, t, o)| (t, o))
}

fn listed(list: &str, word: &str) -> bool {
    // Word by word: a substring search links a generic string searcher (~0.8 KB).
    !word.is_empty() && list.split(' ').any(|w| w == word)
}

/// The peer may set sections of this type in `package`. Packages without a list (a
/// `replicate` entry other than firewall and dhcp) are taken whole, as before.
pub fn section_allowed(package: &str, stype: &str) -> bool {
    lists(package).is_none_or(|(types, _)| listed(types, stype) || (package == "network" && stype.starts_with("wireguard_")))
}

/// OpenVPN options that name a file: allowed only as a `replicate_file` path could be
/// ([`crate::model::peer::file_allowed`]), with tls_auth's optional key direction.
const OPENVPN_FILES: &str = " ca cert key dh tls_auth tls_crypt tls_crypt_v2 crl_verify secret pkcs12 extra_certs ";

/// Options whose every value is checked ([`OPENVPN_FILES`]): the digest leaves them
/// out, as a refused value on one router and an allowed one on the other would
/// otherwise differ for good; a change on the leader is still pushed (inotify).
pub fn value_checked(package: &str, option: &str) -> bool {
    package == "openvpn" && listed(OPENVPN_FILES, option)
}

/// The peer may set this option to this value.
pub fn option_allowed(package: &str, option: &str, value: &crate::uci::Value) -> bool {
    let file_ok = |v: &String| {
        let mut words = v.split(' ');
        words.next().is_some_and(crate::model::peer::file_allowed) && words.next().is_none_or(|d| d == "0" || d == "1") && words.next().is_none()
    };
    if value_checked(package, option) {
        return match value {
            Value::Single(v) => file_ok(v),
            Value::List(vs) => vs.iter().all(file_ok),
        };
    }
    let plain = |v: &String| !v.chars().any(char::is_control);
    let value_ok = match value {
        Value::Single(v) => plain(v),
        Value::List(vs) => vs.iter().all(plain),
    };
    value_ok && lists(package).is_none_or(|(_, options)| listed(options, option))
}

/// Options of `s` the peer may not set (in order).
fn refused_options<'a>(package: &str, s: &'a Section) -> impl Iterator<Item = &'a str> + 'a {
    let package = package.to_string();
    s.options.iter().filter(move |o| !option_allowed(&package, &o.name, &o.value)).map(|o| o.name.as_str())
}

/// The same section in `pkg`: same display name (`name` or `@type[N]`) and type.
fn counterpart<'a>(pkg: Option<&'a Package>, display: &str, stype: &str) -> Option<&'a Section> {
    let p = pkg?;
    p.resolve(display).map(|i| &p.sections[i]).filter(|s| s.stype == stype)
}

pub(crate) fn same_section(a: &Section, b: &Section) -> bool {
    a.stype == b.stype && a.name == b.name && a.options.len() == b.options.len() && a.options.iter().zip(&b.options).all(|(x, y)| x.name == y.name && x.value == y.value)
}

/// What this node should hold of `package`: the leader's allowed sections and options,
/// this node's own values for everything refused. Also returns the refused items where
/// the two differ (`pkg.section` or `pkg.section.option`; an item both hold alike, such
/// as muros-ha's own `firewall.muros_ha` include, was not refused anything).
///
/// Out-of-scope sections ([`in_scope`]) are the leader's or this node's own business:
/// the leader's are left out, this node's kept first, in their order, without a word.
pub fn filter(package: &str, leader: &Package, local: Option<&Package>, vpns: &[String]) -> (Package, Vec<String>) {
    let mut refused: Vec<String> = Vec::new();
    let mut note = |item: String| {
        if !refused.contains(&item) {
            refused.push(item);
        }
    };
    let out_of_scope = |s: &Section| !in_scope(package, s, vpns);
    let local_kept: Vec<&Section> = local.map(|p| p.sections.iter().filter(|s| !section_allowed(package, &s.stype) || out_of_scope(s)).collect()).unwrap_or_default();
    // This node's own sections first: its file keeps its shape, the tunnels follow.
    let mut out = Package { name: leader.name.clone(), file: leader.file.clone(), sections: local_kept.iter().filter(|s| out_of_scope(s)).map(|s| (*s).clone()).collect() };
    for (i, s) in leader.sections.iter().enumerate() {
        if out_of_scope(s) {
            continue;
        }
        let display = leader.display_name(i);
        let clash = s.name.is_some() && local_kept.iter().any(|k| k.name == s.name);
        if !section_allowed(package, &s.stype) || clash {
            if !counterpart(local, &display, &s.stype).is_some_and(|l| same_section(l, s)) {
                note(format!("{}.{}", package, display));
            }
            continue;
        }
        let mine = counterpart(local, &display, &s.stype);
        let mut kept = s.clone();
        kept.options.retain(|o| option_allowed(package, &o.name, &o.value));
        let names = refused_options(package, s).chain(mine.into_iter().flat_map(|m| refused_options(package, m)));
        for name in names.collect::<Vec<_>>() {
            let theirs = s.option(name).map(|o| &o.value);
            let ours = mine.and_then(|m| m.option(name));
            if theirs != ours.map(|o| &o.value) {
                note(format!("{}.{}.{}", package, display, name));
            }
            // The leader's value not taken (or absent while ours is not allowed): ours stays.
            if let Some(o) = ours {
                if kept.option(name).is_none() {
                    kept.options.push(o.clone());
                }
            }
        }
        out.sections.push(kept);
    }
    if let Some(lp) = local {
        for (i, s) in lp.sections.iter().enumerate() {
            if section_allowed(package, &s.stype) || out_of_scope(s) {
                continue;
            }
            let display = lp.display_name(i);
            if !counterpart(Some(leader), &display, &s.stype).is_some_and(|l| same_section(l, s)) {
                note(format!("{}.{}", package, display));
            }
            out.sections.push(s.clone());
        }
    }
    (out, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str, name: &str) -> Package {
        crate::uci::parse(t, name).unwrap()
    }

    const FW_LOCAL: &str = "config defaults\n\toption input 'ACCEPT'\n\nconfig include 'muros_ha'\n\toption type 'nftables'\n\toption path '/etc/muros-ha/fw4-input.nft'\n";

    #[test]
    fn a_firewall_include_from_the_peer_is_refused_and_ours_is_kept() {
        let leader = format!("{FW_LOCAL}\nconfig include\n\toption type 'script'\n\toption path '/tmp/evil.sh'\n\nconfig rule 'ssh'\n\toption dest_port '22'\n\toption target 'ACCEPT'\n");
        let (out, refused) = filter("firewall", &parse(&leader, "firewall"), Some(&parse(FW_LOCAL, "firewall")), &[]);
        assert_eq!(refused, ["firewall.@include[1]"]);
        assert!(out.section("ssh").is_some(), "the rule is taken");
        let includes: Vec<_> = out.sections_of_type("include").collect();
        assert_eq!(includes.len(), 1, "only our own include");
        assert_eq!(includes[0].get("path"), Some("/etc/muros-ha/fw4-input.nft"));
        // The same include on both sides (muros-ha's own) is nothing refused.
        let (_, refused) = filter("firewall", &parse(FW_LOCAL, "firewall"), Some(&parse(FW_LOCAL, "firewall")), &[]);
        assert!(refused.is_empty(), "{:?}", refused);
    }

    #[test]
    fn a_dhcpscript_leasefile_and_injected_newline_are_refused_and_the_local_values_kept() {
        let local = "config dnsmasq\n\toption domain 'lan'\n\toption leasefile '/tmp/dhcp.leases'\n\nconfig dhcp 'lan'\n\toption start '100'\n";
        let leader = "config dnsmasq\n\toption domain 'lan2'\n\toption dhcpscript '/tmp/evil.sh'\n\toption leasefile '/etc/dropbear/authorized_keys'\n\toption local '/x/\ndhcp-script=/tmp/evil.sh'\n\nconfig dhcp 'lan'\n\toption start '120'\n\nconfig weird\n\toption x 'y'\n";
        let (out, refused) = filter("dhcp", &parse(leader, "dhcp"), Some(&parse(local, "dhcp")), &[]);
        assert_eq!(refused, ["dhcp.@dnsmasq[0].dhcpscript", "dhcp.@dnsmasq[0].leasefile", "dhcp.@dnsmasq[0].local", "dhcp.@weird[0]"]);
        let d = &out.sections[0];
        assert_eq!(d.get("domain"), Some("lan2"));
        assert_eq!(d.get("leasefile"), Some("/tmp/dhcp.leases"));
        assert_eq!(d.option("dhcpscript"), None);
        assert_eq!(d.option("local"), None);
        assert_eq!(out.section("lan").unwrap().get("start"), Some("120"));
        assert_eq!(out.sections.len(), 2);
        // What is written parses back to the same sections.
        let back = parse(&crate::uci::export(&out), "dhcp");
        assert!(back.sections.len() == out.sections.len() && back.sections.iter().zip(&out.sections).all(|(a, b)| same_section(a, b)));
    }

    #[test]
    fn a_local_only_refused_item_stays_and_is_reported_once() {
        let local = "config dnsmasq\n\toption dhcpscript '/usr/local/mine.sh'\n\nconfig include 'x'\n\toption path '/etc/x.nft'\n";
        let (out, refused) = filter("dhcp", &parse("config dnsmasq\n", "dhcp"), Some(&parse(local, "dhcp")), &[]);
        assert_eq!(refused, ["dhcp.@dnsmasq[0].dhcpscript", "dhcp.x"]);
        assert_eq!(out.sections[0].get("dhcpscript"), Some("/usr/local/mine.sh"));
        assert_eq!(out.section("x").unwrap().get("path"), Some("/etc/x.nft"));
    }

    #[test]
    fn a_package_without_a_list_is_taken_whole_but_control_characters_never() {
        assert!(section_allowed("upnpd", "upnpd"));
        assert!(option_allowed("upnpd", "anything", &Value::Single("x".into())));
        assert!(!option_allowed("upnpd", "anything", &Value::List(vec!["a".into(), "b\nc".into()])));
        assert!(!section_allowed("firewall", "include"));
        assert!(!option_allowed("firewall", "extra_src", &Value::Single("x".into())));
        assert!(!option_allowed("firewall", "loadfile", &Value::Single("/etc/shadow".into())));
        assert!(option_allowed("firewall", "dest_port", &Value::Single("22".into())));
    }

    const NET_LEADER: &str = "config interface 'lan'\n\toption device 'br-lan'\n\toption ipaddr '192.0.2.2'\n\n\
        config interface 'wg0'\n\toption proto 'wireguard'\n\toption private_key 'NEW'\n\toption listen_port '51820'\n\tlist addresses '198.19.77.1/24'\n\toption auto '0'\n\n\
        config wireguard_wg0\n\toption public_key 'FAR'\n\toption endpoint_host '203.0.113.10'\n\tlist allowed_ips '198.19.77.2/32'\n\n\
        config interface 'mgmt'\n\toption proto 'wireguard'\n\toption private_key 'LEADERS-OWN'\n\n\
        config wireguard_mgmt\n\toption public_key 'X'\n";
    const NET_LOCAL: &str = "config interface 'lan'\n\toption device 'br-lan'\n\toption ipaddr '192.0.2.3'\n\n\
        config interface 'wg0'\n\toption proto 'wireguard'\n\toption private_key 'OLD'\n\toption auto '1'\n\n\
        config interface 'mgmt'\n\toption proto 'wireguard'\n\toption private_key 'MINE'\n\n\
        config device\n\toption name 'br-lan'\n";

    /// Issue 18: of `network` only the `list vpn` tunnel and its peers come from the
    /// leader; this router's LAN, its own tunnel and devices stay, first and untouched,
    /// and are no refusal. A per-node option (`auto`) keeps the local value, reported.
    #[test]
    fn network_is_replicated_only_for_the_vpn_tunnels() {
        let vpns = ["wg0".to_string()];
        let (out, refused) = filter("network", &parse(NET_LEADER, "network"), Some(&parse(NET_LOCAL, "network")), &vpns);
        assert_eq!(refused, ["network.wg0.auto"]);
        let names: Vec<String> = (0..out.sections.len()).map(|i| out.display_name(i)).collect();
        assert_eq!(names, ["lan", "mgmt", "@device[0]", "wg0", "@wireguard_wg0[0]"]);
        assert_eq!(out.section("lan").unwrap().get("ipaddr"), Some("192.0.2.3"));
        assert_eq!(out.section("mgmt").unwrap().get("private_key"), Some("MINE"));
        let wg = out.section("wg0").unwrap();
        assert_eq!((wg.get("private_key"), wg.get("listen_port"), wg.get("auto")), (Some("NEW"), Some("51820"), Some("1")));
        assert_eq!(out.sections[4].get("endpoint_host"), Some("203.0.113.10"));
        assert!(!out.sections.iter().any(|s| s.stype == "wireguard_mgmt"), "the leader's own tunnel's peers stay there");
        // Without `list vpn` nothing of network is the peer's.
        let (out, refused) = filter("network", &parse(NET_LEADER, "network"), Some(&parse(NET_LOCAL, "network")), &[]);
        assert!(refused.is_empty());
        assert_eq!(out.sections.len(), 4);
        assert_eq!(out.section("wg0").unwrap().get("private_key"), Some("OLD"));
        // A section of ours that shares the tunnel's name is never replaced.
        let clash = "config device 'wg0'\n\toption name 'x'\n";
        let (out, refused) = filter("network", &parse(NET_LEADER, "network"), Some(&parse(clash, "network")), &vpns);
        assert_eq!(refused, ["network.wg0"]);
        assert_eq!(out.section("wg0").unwrap().stype, "device");
    }

    /// Issue 18 §2: an OpenVPN server's UCI comes from the master, but nothing that
    /// runs a program (`up`, `script_security`, a whole `config` file), writes a file of
    /// its choosing (`status`, `log`), or reads a key from outside the VPN directories.
    #[test]
    fn openvpn_takes_settings_and_key_paths_but_no_scripts() {
        let leader = "config openvpn 'server'\n\toption enabled '1'\n\toption port '1194'\n\toption dev 'tun0'\n\
            \toption ca '/etc/openvpn/ca.crt'\n\toption tls_auth '/etc/openvpn/ta.key 0'\n\toption key '/etc/dropbear/dropbear_rsa_host_key'\n\
            \toption up '/tmp/evil.sh'\n\toption script_security '2'\n\toption status '/etc/shadow'\n\toption config '/tmp/x.conf'\n";
        let local = "config openvpn 'server'\n\toption enabled '1'\n\toption key '/etc/openvpn/server.key'\n\toption status '/tmp/openvpn.status'\n";
        let (out, refused) = filter("openvpn", &parse(leader, "openvpn"), Some(&parse(local, "openvpn")), &[]);
        assert_eq!(refused, ["openvpn.server.key", "openvpn.server.up", "openvpn.server.script_security", "openvpn.server.status", "openvpn.server.config"]);
        let s = out.section("server").unwrap();
        assert_eq!((s.get("port"), s.get("ca"), s.get("tls_auth")), (Some("1194"), Some("/etc/openvpn/ca.crt"), Some("/etc/openvpn/ta.key 0")));
        assert_eq!((s.get("key"), s.get("status"), s.get("up")), (Some("/etc/openvpn/server.key"), Some("/tmp/openvpn.status"), None));
        assert!(!option_allowed("openvpn", "tls_auth", &Value::Single("/etc/openvpn/ta.key 0 x".into())));
        assert!(!option_allowed("openvpn", "ca", &Value::Single("/etc/openvpn/../shadow".into())));
    }
}
