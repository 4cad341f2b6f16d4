//! Two real `muros-ha daemon`s (each with its own ubusd and root, in its own network
//! namespace, joined by a veth sync link) paired by pasting each one's
//! `status.peer.local_key` into the other's `option peer_key`, as an admin would.
//! Root needed: fails under CI=true without it, skips otherwise.

mod peer_support;

use peer_support::*;
use std::fs;
use std::time::{Duration, Instant};

const FIREWALL: &str = "config defaults\n\toption input 'ACCEPT'\n\nconfig zone 'lan'\n\toption name 'lan'\n\toption input 'ACCEPT'\n";
const DHCP_A: &str = "config dnsmasq\n\toption domain 'lan'\n\toption interface 'br-lan'\n\nconfig dhcp 'lan'\n\toption interface 'lan'\n\toption start '100'\n";
const DHCP_B: &str = "config dnsmasq\n\toption domain 'old'\n\toption interface 'eth9'\n\nconfig dhcp 'lan'\n\toption interface 'lan'\n\toption start '50'\n";

fn alert_kinds(r: &Router) -> Vec<String> {
    r.status()["alerts"].as_array().map(|a| a.iter().filter_map(|x| x["kind"].as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Wait for `cond` on B's files, measuring how long it took.
fn timed(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

#[test]
fn paired_daemons_replicate_detect_split_brain_drift_and_resync_after_a_cut() {
    let Some(mut lab) = Lab::new("p") else { return };
    for (r, dhcp) in [(&lab.a, DHCP_A), (&lab.b, DHCP_B)] {
        fs::write(r.config("firewall"), FIREWALL).unwrap();
        fs::write(r.config("dhcp"), dhcp).unwrap();
        fs::write(r.root.join("tmp/dhcp.leases"), "").unwrap();
    }
    lab.a.start();
    lab.b.start();
    let (ka, kb) = (lab.a.local_key(), lab.b.local_key());
    assert_ne!(ka, kb);
    for r in [&lab.a, &lab.b] {
        r.add_global_line("list replicate_exclude 'dhcp.@dnsmasq[0].interface'");
    }
    let t0 = Instant::now();
    lab.a.set_global("peer_key", &kb);
    lab.b.set_global("peer_key", &ka);

    // Paired: the backup takes the master's packages but keeps its excluded option.
    let (a, b) = (&lab.a, &lab.b);
    assert!(b.wait(Duration::from_secs(8), |r| r.peer()["state"] == "in_sync"), "B in sync: {}\nA log:\n{}\nB log:\n{}", b.peer(), a.log(), b.log());
    eprintln!("pairing → in_sync: {:?}", t0.elapsed());
    assert!(a.wait(Duration::from_secs(3), |r| r.peer()["state"] == "in_sync"), "A: {}", a.peer());
    assert_eq!(uci_get(b, "dhcp", "@dnsmasq[0]", "domain").as_deref(), Some("lan"));
    assert_eq!(uci_get(b, "dhcp", "lan", "start").as_deref(), Some("100"));
    assert_eq!(uci_get(b, "dhcp", "@dnsmasq[0]", "interface").as_deref(), Some("eth9"), "excluded option kept");
    let pa = a.peer();
    assert_eq!(pa["role"], "backup");
    assert_eq!(pa["priority"], 100);
    assert_eq!(pa["config_digest_match"], true);
    eprintln!("handshake as seen by A: {} ms", pa["handshake_ms"]);

    // A firewall change on the master appears on the backup within 1 s.
    write_atomic(&a.config("firewall"), &format!("{}\nconfig rule 'ssh'\n\toption dest_port '22'\n\toption target 'ACCEPT'\n", FIREWALL));
    let took = timed(Duration::from_secs(3), || uci_get(b, "firewall", "ssh", "dest_port").as_deref() == Some("22")).expect("firewall replicated");
    eprintln!("firewall change → on the backup: {:?}", took);
    assert!(took < Duration::from_secs(1), "replication took {:?}", took);

    // A dhcp change: the value follows, the excluded option does not.
    write_atomic(&a.config("dhcp"), &DHCP_A.replace("'lan'\n\toption interface 'br-lan'", "'lan2'\n\toption interface 'br-wan'"));
    let took = timed(Duration::from_secs(3), || uci_get(b, "dhcp", "@dnsmasq[0]", "domain").as_deref() == Some("lan2")).expect("dhcp replicated");
    eprintln!("dhcp change → on the backup: {:?}", took);
    assert!(took < Duration::from_secs(1));
    assert_eq!(uci_get(b, "dhcp", "@dnsmasq[0]", "interface").as_deref(), Some("eth9"));
    assert!(b.wait(Duration::from_secs(3), |r| r.peer()["state"] == "in_sync"), "{}", b.peer());

    // Leases stream from the master to the backup.
    let lease = "1795700000 02:00:00:00:00:09 192.0.2.50 laptop 01:02:00:00:00:00:09\n";
    fs::write(a.root.join("tmp/dhcp.leases"), lease).unwrap();
    assert!(timed(Duration::from_secs(2), || fs::read_to_string(b.root.join("tmp/dhcp.leases")).ok().as_deref() == Some(lease)).is_some(), "lease file streamed");

    // Split brain: both nodes MASTER → both report it within 3 s; healed → cleared.
    a.set_vrrp_state("MASTER");
    b.set_vrrp_state("BACKUP");
    std::thread::sleep(Duration::from_millis(300));
    let events_a = a.listen(&["muros_ha.split_brain"], 3);
    let t0 = Instant::now();
    b.set_vrrp_state("MASTER");
    for r in [a, b] {
        assert!(r.wait(Duration::from_secs(3), |r| r.peer()["split_brain"] == true && alert_kinds(r).contains(&"split_brain".to_string())), "{} split brain: {}", r.ns, r.status());
    }
    eprintln!("split brain reported on both: {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(3));
    b.set_vrrp_state("BACKUP");
    for r in [a, b] {
        assert!(r.wait(Duration::from_secs(3), |r| r.peer()["split_brain"] == false && !alert_kinds(r).contains(&"split_brain".to_string())), "{} healed: {}", r.ns, r.status());
    }
    let text = String::from_utf8_lossy(&events_a.wait_with_output().unwrap().stdout).into_owned();
    assert!(text.contains("\"active\":true") && text.contains("\"active\":false"), "split_brain raised and cleared as events: {}", text);

    // Link cut: both see the peer unreachable; a change made meanwhile arrives after.
    lab.link(false);
    for r in [a, b] {
        assert!(r.wait(Duration::from_secs(6), |r| r.peer()["state"] == "unreachable"), "{} unreachable: {}", r.ns, r.peer());
    }
    write_atomic(&a.config("dhcp"), &DHCP_A.replace("'100'", "'120'"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(uci_get(b, "dhcp", "lan", "start").as_deref(), Some("100"), "nothing arrives while cut");
    let t0 = Instant::now();
    lab.link(true);
    assert!(b.wait(Duration::from_secs(8), |r| uci_get(r, "dhcp", "lan", "start").as_deref() == Some("120") && r.peer()["state"] == "in_sync"), "resync after the cut: {}\nB log:\n{}", b.peer(), b.log());
    eprintln!("link restored → resynced: {:?}", t0.elapsed());

    // Planned handover: B confirms it is in sync, then A enters maintenance.
    let (code, out, err) = a.ubus(&["call", "muros_ha", "handover"]);
    assert_eq!(code, 0, "handover: {} {}\nA log:\n{}", out, err, a.log());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["handover"], true, "{}", v);
    assert_eq!(a.status()["maintenance"], true);
    assert!(b.wait(Duration::from_secs(3), |r| r.peer()["maintenance"] == true && r.peer()["priority"] == 1), "B sees A in maintenance: {}", b.peer());
    // And back (issue 16): B hands over to A, which leaves maintenance to take over.
    // This harness runs no conntrackd, and A's maintenance apply rendered a
    // conntrackd.conf, so A would rightly refuse ("flows would be lost"): take it away.
    let _ = fs::remove_file(a.root.join("etc/conntrackd/conntrackd.conf"));
    let (code, out, err) = b.ubus(&["call", "muros_ha", "handover"]);
    assert_eq!(code, 0, "hand back: {} {}\nB log:\n{}", out, err, b.log());
    assert!(a.wait(Duration::from_secs(5), |r| r.status()["maintenance"] == false), "A left maintenance for the hand-back: {}\nA log:\n{}", a.status(), a.log());
    assert_eq!(b.status()["maintenance"], true);
    assert!(a.wait(Duration::from_secs(3), |r| r.peer()["maintenance"] == true), "A sees B in maintenance: {}", a.peer());
    // B leaves maintenance again so the rest runs with A as the replication leader.
    let (code, _, _) = b.ubus(&["call", "muros_ha", "maintenance", r#"{"enable": false}"#]);
    assert_eq!(code, 0);

    // A local edit on the backup is drift: reported, evented, not overwritten.
    let events_b = b.listen(&["muros_ha.drift"], 2);
    write_atomic(&b.config("firewall"), &fs::read_to_string(b.config("firewall")).unwrap().replace("'22'", "'2222'"));
    assert!(b.wait(Duration::from_secs(2), |r| r.peer()["state"] == "drift" && alert_kinds(r).contains(&"drift".to_string())), "drift: {}", b.status());
    assert_eq!(b.peer()["drift"][0], "firewall");
    let text = String::from_utf8_lossy(&events_b.wait_with_output().unwrap().stdout).into_owned();
    assert!(text.contains("muros_ha.drift") && text.contains("firewall"), "drift evented: {}", text);
    write_atomic(&a.config("firewall"), &format!("{}\nconfig rule 'ssh'\n\toption dest_port '22'\n\toption target 'DROP'\n", FIREWALL));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(uci_get(b, "firewall", "ssh", "dest_port").as_deref(), Some("2222"), "the local edit is not overwritten");
    assert!(a.wait(Duration::from_secs(2), |r| r.peer()["state"] == "drift" && r.peer()["config_digest_match"] == false), "A sees the mismatch: {}", a.peer());

    let (code, out, _) = a.ubus(&["call", "muros_ha", "handover"]);
    assert_ne!(code, 0, "a handover to a drifted peer is refused: {}", out);
    assert!(out.contains("drift"), "{}", out);

    assert!(lab.a.daemon_alive() && lab.b.daemon_alive());
}

#[test]
fn a_mispasted_key_is_refused_and_both_sides_say_why() {
    let Some(mut lab) = Lab::new("k") else { return };
    lab.a.start();
    lab.b.start();
    let ka = lab.a.local_key();
    // The admin pasted A's own key into A instead of B's.
    lab.a.set_global("peer_key", &ka);
    lab.b.set_global("peer_key", &ka);
    let (a, b) = (&lab.a, &lab.b);
    assert!(b.wait(Duration::from_secs(6), |r| r.peer()["rx_rejected"]["unauthenticated"].as_u64().unwrap_or(0) >= 1), "B rejects: {}", b.peer());
    assert!(b.peer()["last_error"].as_str().unwrap_or_default().contains("peer_key"), "{}", b.peer());
    assert!(a.wait(Duration::from_secs(6), |r| r.peer()["last_error"].as_str().unwrap_or_default().contains("refused our handshake")), "A: {}", a.peer());
    for r in [a, b] {
        assert_eq!(r.peer()["state"], "unreachable");
        assert_eq!(r.peer()["connected"], false);
    }
}

/// Issue 18 §1: each router's HA settings (VRRP version, advert interval, auth type, a
/// digest of the password, VIPs and VRIDs) go to the peer in the heartbeat; a
/// difference is an alert on both routers, named, with neither password in sight, and
/// it clears when the settings agree again.
#[test]
fn differing_ha_settings_are_an_alert_on_both_routers_until_they_agree() {
    let Some(mut lab) = Lab::new("s") else { return };
    lab.start_paired();
    let (a, b) = (&lab.a, &lab.b);
    for r in [a, b] {
        assert!(r.wait(Duration::from_secs(8), |r| r.peer()["settings_match"] == true), "settings_match: {}\n{}", r.peer(), r.log());
        assert!(!alert_kinds(r).contains(&"settings_mismatch".to_string()), "{:?}", alert_kinds(r));
    }
    let pw_a = uci_get(a, "muros_ha", "global", "password").unwrap_or_default();
    b.set_global("advert_int", "3");
    b.set_global("password", "0ther-pw");
    for r in [a, b] {
        assert!(r.wait(Duration::from_secs(8), |r| alert_kinds(r).contains(&"settings_mismatch".to_string())), "{} has no settings_mismatch: {}", r.root.display(), r.status()["alerts"]);
        assert_eq!(r.peer()["settings_match"], false);
    }
    let text = a.status().to_string();
    assert!(text.contains("advert_ms: 1000 here, 3000 on the peer") && text.contains("the VRRP passwords differ") && !text.contains("password_digest"), "{text}");
    assert!(!text.contains("0ther-pw") && (pw_a.is_empty() || !text.contains(&pw_a)), "a password in status: {text}");
    b.set_global("advert_int", "1");
    b.set_global("password", &pw_a);
    for r in [a, b] {
        assert!(r.wait(Duration::from_secs(8), |r| !alert_kinds(r).contains(&"settings_mismatch".to_string())), "still: {}", r.status()["alerts"]);
    }
}

/// Issue 18 §2: with `list replicate 'network'` and `list vpn 'wg0'`, the master's
/// WireGuard tunnel (interface and peers, private key included) reaches the backup
/// over the peer link; the backup's own interfaces stay as they were; the file that now
/// holds a private key is 0600; a key change on the master follows.
#[test]
fn the_vpn_tunnel_is_replicated_and_nothing_else_of_network() {
    use std::os::unix::fs::PermissionsExt;
    let Some(mut lab) = Lab::new("w") else { return };
    let tunnel = "\nconfig interface 'wg0'\n\toption proto 'wireguard'\n\toption private_key 'cGFpcmVkLXR1bm5lbC1rZXktb25lLTMyYnl0ZXM9PQ=='\n\toption listen_port '51820'\n\tlist addresses '198.19.77.1/24'\n\nconfig wireguard_wg0\n\toption public_key 'ZmFyLXNpZGUta2V5LWZvci10aGUtdGVzdC0zMmJ5dGU='\n\toption endpoint_host '203.0.113.10'\n\toption endpoint_port '51820'\n\tlist allowed_ips '198.19.77.2/32'\n";
    let net_a = fs::read_to_string(lab.a.config("network")).unwrap();
    fs::write(lab.a.config("network"), format!("{net_a}{tunnel}")).unwrap();
    let net_b = fs::read_to_string(lab.b.config("network")).unwrap();
    fs::set_permissions(lab.b.config("network"), fs::Permissions::from_mode(0o644)).unwrap();
    for r in [&lab.a, &lab.b] {
        r.add_global_line("list vpn 'wg0'");
        r.add_global_line("list replicate 'network'");
    }
    lab.start_paired();
    let (a, b) = (&lab.a, &lab.b);
    assert!(b.wait(Duration::from_secs(10), |_| uci_get(b, "network", "wg0", "listen_port").as_deref() == Some("51820")), "tunnel not replicated: {}\nB log:\n{}", b.peer(), b.log());
    assert!(b.wait(Duration::from_secs(3), |r| r.peer()["state"] == "in_sync"), "{}", b.peer());
    assert_eq!(uci_get(b, "network", "@wireguard_wg0[0]", "endpoint_host").as_deref(), Some("203.0.113.10"));
    // B's own interfaces: every one of them as before (the LAN address is B's, not A's).
    let now_b = fs::read_to_string(b.config("network")).unwrap();
    assert!(now_b.starts_with(net_b.lines().next().unwrap()), "B's own comment kept:\n{now_b}");
    for section in net_b.split("\nconfig ").skip(1) {
        let head = section.lines().next().unwrap();
        assert!(now_b.contains(&format!("config {head}")), "B lost {head}:\n{now_b}");
    }
    assert_eq!(uci_get(b, "network", "lan", "ipaddr"), uci_get_text(&net_b, "lan", "ipaddr"));
    assert_ne!(uci_get(b, "network", "lan", "ipaddr"), uci_get(a, "network", "lan", "ipaddr"));
    let mode = fs::metadata(b.config("network")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the file holding the tunnel's key");
    assert!(b.peer()["refused"].as_array().is_some_and(|r| r.is_empty()), "{}", b.peer());
    // A new key on the master follows; B's LAN still does not.
    let rekeyed = fs::read_to_string(a.config("network")).unwrap().replace("cGFpcmVkLXR1bm5lbC1rZXktb25lLTMyYnl0ZXM9PQ==", "bmV3LXR1bm5lbC1rZXktZm9yLXRoZS10ZXN0LTMyYj0=");
    write_atomic(&a.config("network"), &rekeyed);
    assert!(b.wait(Duration::from_secs(3), |_| uci_get(b, "network", "wg0", "private_key").as_deref() == Some("bmV3LXR1bm5lbC1rZXktZm9yLXRoZS10ZXN0LTMyYj0=")), "re-key not replicated:\n{}", b.log());
    assert_ne!(uci_get(b, "network", "lan", "ipaddr"), uci_get(a, "network", "lan", "ipaddr"));
    // The key never shows in either router's status.
    for r in [a, b] {
        assert!(!r.status().to_string().contains("bmV3LXR1bm5lbC1rZXkt"), "a tunnel key in status");
    }
}

/// `option NAME` of a named section in UCI text (the first one).
fn uci_get_text(text: &str, section: &str, option: &str) -> Option<String> {
    let start = text.find(&format!("config interface '{section}'"))?;
    let body = &text[start..];
    let body = &body[..body[1..].find("\nconfig ").map_or(body.len(), |i| i + 1)];
    body.lines().find_map(|l| l.trim().strip_prefix(&format!("option {option} ")).map(|v| v.trim_matches('\'').to_string()))
}

/// Issue 18 §2: a `replicate_file` (an OpenVPN key) reaches the backup with its bytes,
/// mode, owner and group, into a directory the backup did not have; a change follows;
/// both routers count it in their digest (in_sync only when it matches).
#[test]
fn listed_vpn_files_are_replicated_with_mode_and_owner() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Some(mut lab) = Lab::new("f") else { return };
    let key = "-----BEGIN OpenVPN Static key V1-----\n00112233445566778899aabbccddeeff\n-----END OpenVPN Static key V1-----\n";
    let dir = lab.a.root.join("etc/openvpn");
    fs::create_dir_all(&dir).unwrap();
    let src = dir.join("ta.key");
    fs::write(&src, key).unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&src, Some(65534), Some(65533)).unwrap();
    for r in [&lab.a, &lab.b] {
        r.add_global_line("list replicate_file '/etc/openvpn/ta.key'");
    }
    lab.start_paired();
    let (a, b) = (&lab.a, &lab.b);
    let dst = b.root.join("etc/openvpn/ta.key");
    assert!(b.wait(Duration::from_secs(10), |_| fs::read_to_string(&dst).ok().as_deref() == Some(key)), "file not replicated: {}\nB log:\n{}", b.peer(), b.log());
    let m = fs::symlink_metadata(&dst).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o640, 65534, 65533));
    assert!(b.wait(Duration::from_secs(3), |r| r.peer()["state"] == "in_sync"), "{}", b.peer());
    assert!(a.wait(Duration::from_secs(3), |r| r.peer()["state"] == "in_sync"), "{}", a.peer());
    // A new key on the master follows within a couple of heartbeats.
    let t0 = Instant::now();
    write_atomic(&src, &key.replace("0011", "ffee"));
    fs::set_permissions(&src, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(b.wait(Duration::from_secs(5), |_| fs::read_to_string(&dst).is_ok_and(|t| t.contains("ffee")) && fs::metadata(&dst).is_ok_and(|m| m.mode() & 0o777 == 0o600)), "change not replicated:\n{}", b.log());
    eprintln!("file change → on the backup: {:?}", t0.elapsed());
}
