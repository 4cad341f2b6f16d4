//! The fw4 snippet: bare nft rules that fw4 includes at the top of its `input` chain
//! (through our `config include` in `/etc/config/firewall`, position `chain-prepend`),
//! so no table or chain here.
//!
//! Without it, a zone whose input policy is REJECT (a guest network, the sync link in
//! no zone at all) drops VRRP adverts and both routers become master.

use super::Text;
use crate::model::{AuthType, Config, SyncMode};
use std::net::IpAddr;
use std::path::Path;

/// IP protocol number of VRRP (both versions, both families).
const VRRP_PROTO: u8 = 112;
/// IP protocol number of IPsec AH, which wraps VRRPv2 adverts with `auth_type AH`.
const AH_PROTO: u8 = 51;
/// Where VRRP adverts go when not unicast (RFC 5798).
const VRRP_GROUP_V4: &str = "224.0.0.18";
const VRRP_GROUP_V6: &str = "ff02::12";

/// The snippet for `cfg`.
pub fn render(cfg: &Config) -> String {
    let mut t = Text::new();
    t.line("# Included by fw4 at the top of its input chain: bare rules only.");
    let ah = cfg.auth_type == AuthType::Ah;
    for vip in &cfg.vips {
        let dev = &vip.interface.device;
        let unicast_peer = if cfg.sync.mode == SyncMode::Unicast { vip.peer_address } else { None };
        // `meta l4proto` rather than `ip6 nexthdr`: it skips IPv6 extension headers.
        let matcher = match (vip.address.is_ipv6(), unicast_peer) {
            // keepalived carries AH-authenticated VRRPv2 adverts in IP protocol 51 (AH),
            // not 112: a rule for 112 alone would drop every advert of an AH pair.
            (false, None) if ah => format!("ip daddr {} ip protocol {{ {}, {} }}", VRRP_GROUP_V4, AH_PROTO, VRRP_PROTO),
            (false, None) => format!("ip daddr {} ip protocol {}", VRRP_GROUP_V4, VRRP_PROTO),
            (true, None) => format!("ip6 daddr {} meta l4proto {}", VRRP_GROUP_V6, VRRP_PROTO),
            (_, Some(IpAddr::V4(p))) if ah => format!("ip saddr {} ip protocol {{ {}, {} }}", p, AH_PROTO, VRRP_PROTO),
            (_, Some(IpAddr::V4(p))) => format!("ip saddr {} ip protocol {}", p, VRRP_PROTO),
            (_, Some(IpAddr::V6(p))) => format!("ip6 saddr {} meta l4proto {}", p, VRRP_PROTO),
        };
        t.line(format!(
            "iifname \"{}\" {} counter accept comment \"muros-ha: VRRP {} vrid {}\"",
            dev,
            matcher,
            comment_safe(&vip.name),
            vip.vrid
        ));
    }
    let sync = &cfg.sync;
    let dev = &sync.interface.device;
    match (sync.mode, sync.peer_ip) {
        (SyncMode::Multicast, _) => t.line(format!(
            "iifname \"{}\" ip daddr {} udp dport {} accept comment \"muros-ha: conntrackd sync (multicast)\"",
            dev, sync.multicast_group, sync.port
        )),
        (SyncMode::Unicast, Some(peer)) => t.line(format!(
            "iifname \"{}\" {} saddr {} udp dport {} accept comment \"muros-ha: conntrackd sync from the peer\"",
            dev,
            if peer.is_ipv6() { "ip6" } else { "ip" },
            peer,
            sync.port
        )),
        (SyncMode::Unicast, None) => t.line("# No sync peer_ip: no conntrackd rule."),
    }
    if cfg.wan.is_some() {
        // The takeover brings the WAN up while conntrackd still commits the peer's flows
        // (a big table takes a second): a reply of a flow not committed yet looks new
        // and would get fw4's WAN reject (a TCP reset that ends the session). While the
        // hook holds the WAN in this device group, such packets are dropped instead, so
        // the sender retries after the commit. DHCP replies (port 68) always pass.
        t.line(format!(
            "iifgroup {} ct state new meta l4proto {{ tcp, udp }} th dport != 68 counter drop comment \"muros-ha: WAN guard while conntrack commits\"",
            WAN_GUARD_GROUP
        ));
    }
    t.finish()
}

/// The network device group (`netdev_group`) the WAN is in while the guard holds.
pub const WAN_GUARD_GROUP: u32 = 28008;

/// The static WAN's NAT (`None` without one): bare rules that fw4 includes at the top of
/// its `srcnat` chain (our second `config include`, `muros_ha_srcnat`), before its
/// masquerade. LAN traffic leaving by the WAN device takes the VIP as source, so a flow
/// keeps its public address when the master changes (conntrackd carries the mapping).
/// The router's own addresses on the WAN and the VIP itself are left alone: the
/// backup's own traffic must keep the address it owns.
pub fn render_srcnat(cfg: &Config) -> Option<String> {
    let vip = cfg.static_wan()?;
    let IpAddr::V4(public) = vip.address.addr else { return None };
    let mut keep: Vec<String> = vip.interface.addresses.iter().filter(|n| n.addr.is_ipv4()).map(|n| n.addr.to_string()).collect();
    keep.push(public.to_string());
    let mut t = Text::new();
    t.line("# Included by fw4 at the top of its srcnat chain: bare rules only.");
    // The master's own tunnel endpoints (`list vpn` listen ports): the far side must
    // see the VIP, whichever router is master, as it would with the shared-MAC WAN.
    // From any source, the VIP included: fw4's masquerade after us would otherwise turn
    // a packet the tunnel sends from the VIP into one from the router's own address.
    if !cfg.vpn_ports.is_empty() {
        let ports: Vec<String> = cfg.vpn_ports.iter().map(u16::to_string).collect();
        t.line(format!(
            "oifname \"{}\" udp sport {{ {} }} counter snat ip to {} comment \"muros-ha: static WAN, the tunnels' endpoint is the VIP\"",
            vip.interface.device,
            ports.join(", "),
            public
        ));
    }
    t.line(format!(
        "oifname \"{}\" ip saddr != {{ {} }} counter snat ip to {} comment \"muros-ha: static WAN, NAT to the VIP {}\"",
        vip.interface.device,
        keep.join(", "),
        public,
        comment_safe(&vip.name)
    ));
    Some(t.finish())
}

/// The srcnat snippet inside a nat chain as fw4 has it, for `nft -c -f`.
pub fn check_srcnat_ruleset(snippet: &Path) -> String {
    format!(
        "table inet fw4 {{\n    chain srcnat {{\n        type nat hook postrouting priority srcnat; policy accept;\n        include \"{}\"\n    }}\n}}\n",
        snippet.display()
    )
}

/// A standalone ruleset that includes the snippet at `snippet` the way fw4 does, so
/// `nft -c -f` can check it before it goes live.
pub fn check_ruleset(snippet: &Path) -> String {
    format!(
        "table inet fw4 {{\n    chain input {{\n        type filter hook input priority filter; policy drop;\n        include \"{}\"\n    }}\n}}\n",
        snippet.display()
    )
}

/// nft comments are double-quoted strings without escapes.
fn comment_safe(s: &str) -> String {
    s.chars().filter(|c| *c != '"' && *c != '\\').collect()
}
