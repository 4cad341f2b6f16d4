//! What each renderer must say for a given situation, one scenario per test. The
//! configs are built in Rust (no UCI) so each test shows exactly what it varies.

mod render_support;

use muros_ha::model::*;
use muros_ha::paths::Paths;
use muros_ha::render::{conntrackd, firewall, keepalived, render_all, RenderContext};
use render_support::{base, iface, sync_link, vip, HOOK};

fn keepalived_conf(cfg: &Config) -> String {
    keepalived::render(cfg, &RenderContext { paths: &Paths::default(), hook_binary: HOOK })
}

/// The body of `vrrp_instance NAME { ... }` (up to its closing brace at column 0).
fn instance<'a>(text: &'a str, name: &str) -> &'a str {
    let head = format!("vrrp_instance {} {{\n", name);
    let start = text.find(&head).unwrap_or_else(|| panic!("no instance {name} in:\n{text}"));
    let body = &text[start + head.len()..];
    &body[..body.find("\n}\n").expect("instance closes")]
}

fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().map(str::trim).filter(|l| l.contains(needle)).collect()
}

fn two_vips(role: Role) -> Config {
    let mut cfg = base(role);
    cfg.vips.push(vip("guest", iface("guest", "br-guest", &["203.0.113.2/24"]), "203.0.113.1/24", 11, None));
    cfg
}

mod keepalived_conf {
    use super::*;

    #[test]
    fn one_vip_carries_the_notify_itself_and_no_sync_group_is_rendered() {
        let text = keepalived_conf(&base(Role::Master));
        assert!(!text.contains("vrrp_sync_group"), "{text}");
        assert!(instance(&text, "lan").contains("notify \"/usr/sbin/muros-ha notify\""), "{text}");
        assert_eq!(lines_with(&text, "notify \"").len(), 1, "{text}");
    }

    #[test]
    fn two_vips_share_one_sync_group_that_alone_notifies() {
        let text = keepalived_conf(&two_vips(Role::Master));
        assert!(text.contains("vrrp_sync_group muros_ha {\n    group {\n        lan\n        guest\n    }\n"), "{text}");
        assert_eq!(lines_with(&text, "notify \"").len(), 1, "{text}");
        assert!(!instance(&text, "lan").contains("notify"));
        assert!(!instance(&text, "guest").contains("notify"));
    }

    #[test]
    fn a_lab_root_rides_on_the_notify_line_and_the_fifo_path() {
        let paths = Paths::new("/tmp/lab/ra");
        let text = keepalived::render(&base(Role::Master), &RenderContext { paths: &paths, hook_binary: "/opt/muros-ha" });
        assert!(text.contains("notify \"/opt/muros-ha notify --root /tmp/lab/ra\""), "{text}");
        assert!(text.contains("notify_fifo \"/tmp/lab/ra/var/run/muros-ha/notify.fifo\""), "{text}");
    }

    #[test]
    fn script_security_is_on_so_a_root_notify_hook_is_allowed() {
        let text = keepalived_conf(&base(Role::Backup));
        assert!(text.contains("    enable_script_security\n    script_user root\n"), "{text}");
    }

    #[test]
    fn the_preempting_master_starts_as_master_and_the_backup_as_backup() {
        assert!(instance(&keepalived_conf(&base(Role::Master)), "lan").contains("state MASTER"));
        assert!(instance(&keepalived_conf(&base(Role::Backup)), "lan").contains("state BACKUP"));
    }

    #[test]
    fn without_preemption_even_the_master_starts_as_backup_with_nopreempt() {
        let mut cfg = base(Role::Master);
        cfg.preempt = false;
        let lan = instance(&keepalived_conf(&cfg), "lan").to_string();
        assert!(lan.contains("state BACKUP") && lan.contains("nopreempt"), "{lan}");
    }

    #[test]
    fn ah_authentication_starts_the_master_as_backup_because_keepalived_refuses_master() {
        let mut cfg = base(Role::Master);
        cfg.auth_type = AuthType::Ah;
        let lan = instance(&keepalived_conf(&cfg), "lan").to_string();
        assert!(lan.contains("state BACKUP"), "{lan}");
        assert!(lan.contains("auth_type AH"), "{lan}");
        assert!(!lan.contains("nopreempt"), "{lan}");
    }

    #[test]
    fn maintenance_advertises_priority_1_and_never_starts_as_master() {
        let mut cfg = base(Role::Master);
        cfg.maintenance = true;
        let lan = instance(&keepalived_conf(&cfg), "lan").to_string();
        assert!(lan.contains("priority 1\n"), "{lan}");
        assert!(lan.contains("state BACKUP"), "{lan}");
    }

    #[test]
    fn an_explicit_priority_is_advertised_on_every_instance() {
        let mut cfg = two_vips(Role::Backup);
        cfg.priority = 120;
        let text = keepalived_conf(&cfg);
        let set: Vec<&str> = lines_with(&text, "priority ").into_iter().filter(|l| l.starts_with("priority ")).collect();
        assert_eq!(set, ["priority 120", "priority 120"], "{text}");
    }

    #[test]
    fn vrrp_v3_renders_a_fractional_advert_and_no_authentication() {
        let mut cfg = base(Role::Master);
        cfg.vrrp_version = VrrpVersion::V3;
        cfg.advert_ms = 100;
        let text = keepalived_conf(&cfg);
        assert!(text.contains("    vrrp_version 3\n"), "{text}");
        assert!(instance(&text, "lan").contains("advert_int 0.1\n"), "{text}");
        assert!(!text.contains("authentication"), "{text}");
        assert!(!text.contains(cfg.password.expose()), "v3 must not carry the secret:\n{text}");
    }

    #[test]
    fn an_ipv6_vip_never_gets_an_authentication_block() {
        // keepalived runs IPv6 instances as v3 and exits 5 on an authentication block there.
        let mut cfg = base(Role::Master);
        let lan = cfg.vips[0].interface.clone();
        cfg.vips.push(vip("lan6", lan, "2001:db8:0:1::1/64", 12, None));
        let text = keepalived_conf(&cfg);
        assert!(instance(&text, "lan").contains("auth_type PASS"), "{text}");
        assert!(!instance(&text, "lan6").contains("authentication"), "{text}");
        assert!(instance(&text, "lan6").contains("2001:db8:0:1::1/64 dev br-lan"), "{text}");
    }

    #[test]
    fn the_secret_is_quoted_and_written_only_into_keepalived_conf_at_0600() {
        let cfg = base(Role::Master);
        let paths = Paths::default();
        let files = render_all(&cfg, &RenderContext { paths: &paths, hook_binary: HOOK });
        for f in &files {
            let holds_secret = f.contents.contains(cfg.password.expose());
            if f.path == paths.keepalived_conf() {
                assert!(f.contents.contains("auth_pass \"s3cr3t-1\""), "{}", f.contents);
                assert_eq!(f.mode, 0o600);
            } else {
                assert!(!holds_secret, "{} holds the secret", f.path.display());
            }
        }
    }

    #[test]
    fn a_vip_on_the_sync_link_stays_out_of_the_sync_group() {
        let mut cfg = two_vips(Role::Master);
        let sync = cfg.sync.interface.clone();
        cfg.vips.push(vip("oops", sync, "198.51.100.5/30", 30, None));
        let text = keepalived_conf(&cfg);
        assert!(text.contains("    group {\n        lan\n        guest\n    }\n"), "{text}");
        assert!(instance(&text, "oops").contains("interface eth2"), "{text}");
        assert!(!instance(&text, "oops").contains("notify"), "{text}");
    }

    #[test]
    fn unicast_mode_sends_adverts_from_our_address_to_the_peer_on_each_interface() {
        let mut cfg = two_vips(Role::Master);
        cfg.sync = sync_link(cfg.sync.interface.clone(), SyncMode::Unicast, Some("198.51.100.2"));
        cfg.vips[0].peer_address = Some("192.0.2.3".parse().unwrap());
        cfg.vips[1].peer_address = Some("203.0.113.3".parse().unwrap());
        let text = keepalived_conf(&cfg);
        let lan = instance(&text, "lan");
        assert!(lan.contains("unicast_src_ip 192.0.2.2\n"), "{lan}");
        assert!(lan.contains("unicast_peer {\n        192.0.2.3\n    }"), "{lan}");
        assert!(instance(&text, "guest").contains("unicast_src_ip 203.0.113.2"), "{text}");
    }

    #[test]
    fn multicast_mode_ignores_peer_addresses() {
        let mut cfg = base(Role::Master);
        cfg.vips[0].peer_address = Some("192.0.2.3".parse().unwrap());
        assert!(!keepalived_conf(&cfg).contains("unicast"));
    }

    #[test]
    fn every_instance_tracks_the_wan_parent_and_none_without_a_wan() {
        let cfg = two_vips(Role::Master);
        let text = keepalived_conf(&cfg);
        for name in ["lan", "guest"] {
            assert!(instance(&text, name).contains("track_interface {\n        eth1\n    }"), "{text}");
        }
        let mut no_wan = cfg.clone();
        no_wan.wan = None;
        assert!(!keepalived_conf(&no_wan).contains("track_interface"));
    }

    #[test]
    fn advert_intervals_are_whole_seconds_in_v2_and_decimal_in_v3() {
        assert_eq!(keepalived::advert_int(1000, false), "1");
        assert_eq!(keepalived::advert_int(2000, false), "2");
        assert_eq!(keepalived::advert_int(1500, false), "2", "v2 rounds up, never below the configured interval");
        assert_eq!(keepalived::advert_int(0, false), "1");
        assert_eq!(keepalived::advert_int(100, true), "0.1");
        assert_eq!(keepalived::advert_int(10, true), "0.01");
        assert_eq!(keepalived::advert_int(1000, true), "1");
        assert_eq!(keepalived::advert_int(1250, true), "1.25");
        assert_eq!(keepalived::advert_int(40950, true), "40.95");
    }

    #[test]
    fn every_vip_is_placed_on_its_own_device() {
        let text = keepalived_conf(&two_vips(Role::Master));
        assert!(instance(&text, "lan").contains("interface br-lan\n"));
        assert!(instance(&text, "lan").contains("192.0.2.1/24 dev br-lan\n"));
        assert!(instance(&text, "guest").contains("203.0.113.1/24 dev br-guest\n"));
        assert!(instance(&text, "guest").contains("virtual_router_id 11\n"));
    }
}

mod conntrackd_conf {
    use super::*;

    fn conf(cfg: &Config) -> String {
        conntrackd::render(cfg, &Paths::default())
    }

    fn ignore_block(text: &str) -> Vec<&str> {
        let start = text.find("Address Ignore {").expect("Address Ignore");
        let body = &text[start..];
        body.lines().skip(1).take_while(|l| l.trim() != "}").map(str::trim).filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn multicast_binds_to_our_sync_address_on_the_sync_device() {
        let text = conf(&base(Role::Master));
        assert!(text.contains(
            "    Multicast {\n        IPv4_address 225.0.0.50\n        Group 3780\n        IPv4_interface 198.51.100.1\n        Interface eth2\n"
        ), "{text}");
        assert!(!text.contains("UDP {"));
    }

    #[test]
    fn a_configured_group_and_port_are_used() {
        let mut cfg = base(Role::Master);
        cfg.sync.multicast_group = "225.0.0.77".parse().unwrap();
        cfg.sync.port = 3999;
        let text = conf(&cfg);
        assert!(text.contains("IPv4_address 225.0.0.77\n        Group 3999\n"), "{text}");
    }

    #[test]
    fn unicast_sends_udp_from_our_sync_address_to_the_peer() {
        let mut cfg = base(Role::Master);
        cfg.sync = sync_link(cfg.sync.interface.clone(), SyncMode::Unicast, Some("198.51.100.2"));
        let text = conf(&cfg);
        assert!(text.contains(
            "    UDP {\n        IPv4_address 198.51.100.1\n        IPv4_Destination_Address 198.51.100.2\n        Port 3780\n        Interface eth2\n"
        ), "{text}");
        assert!(!text.contains("Multicast {"));
    }

    #[test]
    fn ftfw_keeps_the_external_cache_for_commit_on_takeover() {
        let text = conf(&base(Role::Backup));
        assert!(text.contains("Mode FTFW {\n        DisableExternalCache Off\n        CommitTimeout 1800\n        PurgeTimeout 5\n"), "{text}");
    }

    #[test]
    fn lock_file_and_control_socket_live_under_the_root() {
        let text = conntrackd::render(&base(Role::Master), &Paths::new("/lab/rb"));
        assert!(text.contains("LockFile /lab/rb/var/lock/conntrackd.lock\n"), "{text}");
        assert!(text.contains("Path /lab/rb/var/run/conntrackd.ctl\n"), "{text}");
    }

    #[test]
    fn tcp_udp_and_both_icmps_are_replicated() {
        let text = conf(&base(Role::Master));
        assert!(text.contains("Protocol Accept {\n            TCP\n            UDP\n            ICMP\n            IPv6-ICMP\n        }"), "{text}");
    }

    #[test]
    fn address_ignore_lists_loopback_our_addresses_the_sync_net_the_peer_and_the_vips_once() {
        let mut cfg = two_vips(Role::Master);
        cfg.sync = sync_link(cfg.sync.interface.clone(), SyncMode::Unicast, Some("198.51.100.2"));
        cfg.vips[0].peer_address = Some("192.0.2.3".parse().unwrap());
        let text = conf(&cfg);
        let got = ignore_block(&text);
        let want = [
            "IPv4_address 127.0.0.1",
            "IPv6_address ::1",
            "IPv4_address 192.0.2.2",
            "IPv4_address 192.0.2.3",
            "IPv4_address 203.0.113.2",
            "IPv4_address 198.51.100.0/30",
            "IPv4_address 198.51.100.1",
            "IPv4_address 198.51.100.2",
            "IPv4_address 192.0.2.1",
            "IPv4_address 203.0.113.1",
        ];
        assert_eq!(got, want, "{text}");
    }

    #[test]
    fn our_lan_address_is_ignored_as_a_host_never_as_its_whole_subnet() {
        // Ignoring 192.0.2.0/24 would drop every forwarded LAN flow from replication.
        let text = conf(&base(Role::Master));
        let got = ignore_block(&text);
        assert!(got.contains(&"IPv4_address 192.0.2.2"), "{text}");
        assert!(!got.iter().any(|l| l.starts_with("IPv4_address 192.0.2.") && l.contains('/')), "{text}");
    }

    #[test]
    fn ipv6_addresses_and_vips_are_ignored_as_ipv6() {
        let mut cfg = base(Role::Master);
        cfg.vrrp_version = VrrpVersion::V3;
        let lan = iface("lan", "br-lan", &["192.0.2.2/24", "2001:db8:0:1::2/64"]);
        cfg.vips = vec![vip("lan", lan.clone(), "192.0.2.1/24", 10, None), vip("lan6", lan, "2001:db8:0:1::1/64", 11, None)];
        let got = ignore_block(&conf(&cfg)).join("\n");
        assert!(got.contains("IPv6_address 2001:db8:0:1::2"), "{got}");
        assert!(got.contains("IPv6_address 2001:db8:0:1::1"), "{got}");
    }
}

mod fw4_snippet {
    use super::*;

    #[test]
    fn the_snippet_is_bare_rules_for_an_included_chain() {
        let text = firewall::render(&two_vips(Role::Master));
        assert!(!text.contains("table") && !text.contains("chain ") && !text.contains("}\n"), "{text}");
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            // accepts for VRRP and sync; with a WAN, the one guard rule, which drops
            let guard = l.starts_with("iifgroup 28008 ct state new ") && l.contains(" drop comment \"muros-ha: WAN guard");
            assert!(guard || (l.starts_with("iifname \"") && l.contains(" accept comment \"muros-ha: ")), "{l}");
        }
    }

    #[test]
    fn vrrp_is_accepted_on_each_vip_interface_and_sync_only_on_the_sync_link() {
        let text = firewall::render(&two_vips(Role::Master));
        assert!(text.contains("iifname \"br-lan\" ip daddr 224.0.0.18 ip protocol 112 counter accept comment \"muros-ha: VRRP lan vrid 10\""), "{text}");
        assert!(text.contains("iifname \"br-guest\" ip daddr 224.0.0.18 ip protocol 112 counter accept"), "{text}");
        let sync: Vec<&str> = lines_with(&text, "udp dport 3780");
        assert_eq!(sync, ["iifname \"eth2\" ip daddr 225.0.0.50 udp dport 3780 accept comment \"muros-ha: conntrackd sync (multicast)\""]);
    }

    #[test]
    fn ipv6_vrrp_is_matched_on_its_multicast_group_past_extension_headers() {
        let mut cfg = base(Role::Master);
        cfg.vrrp_version = VrrpVersion::V3;
        let lan = cfg.vips[0].interface.clone();
        cfg.vips = vec![vip("lan6", lan, "2001:db8:0:1::1/64", 10, None)];
        let text = firewall::render(&cfg);
        assert!(text.contains("iifname \"br-lan\" ip6 daddr ff02::12 meta l4proto 112 counter accept"), "{text}");
    }

    #[test]
    fn unicast_mode_accepts_vrrp_and_sync_only_from_the_peer() {
        let mut cfg = base(Role::Master);
        cfg.sync = sync_link(cfg.sync.interface.clone(), SyncMode::Unicast, Some("198.51.100.2"));
        cfg.sync.port = 3781;
        cfg.vips[0].peer_address = Some("192.0.2.3".parse().unwrap());
        let text = firewall::render(&cfg);
        assert!(text.contains("iifname \"br-lan\" ip saddr 192.0.2.3 ip protocol 112 counter accept"), "{text}");
        assert!(text.contains("iifname \"eth2\" ip saddr 198.51.100.2 udp dport 3781 accept"), "{text}");
        assert!(!text.contains("224.0.0.18") && !text.contains("225.0.0.50"), "{text}");
    }

    #[test]
    fn the_check_ruleset_includes_the_snippet_inside_an_input_chain() {
        let r = firewall::check_ruleset(std::path::Path::new("/x/30-muros-ha.nft"));
        assert!(r.contains("chain input {") && r.contains("include \"/x/30-muros-ha.nft\""), "{r}");
    }
}

mod fw4_snippet_auth {
    use super::*;

    #[test]
    fn ah_authenticated_adverts_are_accepted_as_ip_protocol_51_too() {
        let mut cfg = two_vips(Role::Master);
        cfg.auth_type = AuthType::Ah;
        let text = firewall::render(&cfg);
        assert!(text.contains("iifname \"br-lan\" ip daddr 224.0.0.18 ip protocol { 51, 112 } counter accept"), "{text}");
        cfg.auth_type = AuthType::Pass;
        let text = firewall::render(&cfg);
        assert!(!text.contains("51,"), "{text}");
    }
}
