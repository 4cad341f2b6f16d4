//! The trust model between two real daemons: what a master that holds the pairing key
//! (leaked, or simply misconfigured) cannot make its backup do, and what a local user
//! in `/tmp` cannot make either do. Same lab as `tests/peer_pair.rs` (namespaces, real
//! ubusd, `muros-ha daemon`); root needed: fails under CI=true without it, skips otherwise.

mod peer_support;

use peer_support::*;
use std::fs;
use std::time::Duration;

/// Both routers: muros-ha's own include (render keeps it in /etc/config/firewall).
const FIREWALL: &str = "config defaults\n\toption input 'ACCEPT'\n\nconfig zone 'lan'\n\toption name 'lan'\n\toption input 'ACCEPT'\n\nconfig include 'muros_ha'\n\toption type 'nftables'\n\toption path '/etc/muros-ha/fw4-input.nft'\n\toption position 'chain-prepend'\n\toption chain 'input'\n";
const DHCP_B: &str = "config dnsmasq\n\toption domain 'old'\n\nconfig dhcp 'lan'\n\toption interface 'lan'\n\toption start '50'\n";
const DHCP_A: &str = "config dnsmasq\n\toption domain 'lan'\n\nconfig dhcp 'lan'\n\toption interface 'lan'\n\toption start '100'\n";

fn refused(r: &Router) -> Vec<String> {
    r.peer()["refused"].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// A (configured master) and B with these packages, started and paired; B in sync.
fn paired(tag: &str, fw_a: &str, dhcp_a: &str, dhcp_b: &str) -> Option<Lab> {
    let lab = Lab::new(tag)?;
    for (r, fw, dhcp) in [(&lab.a, fw_a, dhcp_a), (&lab.b, FIREWALL, dhcp_b)] {
        fs::write(r.config("firewall"), fw).unwrap();
        fs::write(r.config("dhcp"), dhcp).unwrap();
        fs::write(r.root.join("tmp/dhcp.leases"), "").unwrap();
    }
    let mut lab = lab;
    lab.start_paired();
    let (a, b) = (&lab.a, &lab.b);
    assert!(b.wait(Duration::from_secs(8), |r| r.peer()["state"] == "in_sync" && r.peer()["applied"].as_u64() >= Some(2)), "B in sync: {}\nA log:\n{}\nB log:\n{}", b.peer(), a.log(), b.log());
    Some(lab)
}

#[test]
fn a_masters_include_dhcpscript_and_leasefile_are_refused_on_the_backup_and_reported() {
    let fw_a = format!("{FIREWALL}\nconfig include\n\toption type 'script'\n\toption path '/tmp/evil.sh'\n\nconfig rule 'ssh'\n\toption dest_port '22'\n\toption target 'ACCEPT'\n");
    let dhcp_a = DHCP_A.replace("option domain 'lan'\n", "option domain 'lan'\n\toption dhcpscript '/tmp/evil.sh'\n\toption leasefile '/etc/dropbear/authorized_keys'\n");
    let Some(lab) = paired("t", &fw_a, &dhcp_a, DHCP_B) else { return };
    let (a, b) = (&lab.a, &lab.b);
    // What the master's own (bad) lease path holds must not travel either.
    fs::create_dir_all(a.root.join("etc/dropbear")).unwrap();
    fs::write(a.root.join("etc/dropbear/authorized_keys"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB attacker\n").unwrap();
    // The allowed part arrived...
    assert_eq!(uci_get(b, "dhcp", "@dnsmasq[0]", "domain").as_deref(), Some("lan"));
    assert_eq!(uci_get(b, "dhcp", "lan", "start").as_deref(), Some("100"));
    assert_eq!(uci_get(b, "firewall", "ssh", "dest_port").as_deref(), Some("22"));
    // ...the rest did not: B keeps its own values (none) and its own include.
    assert_eq!(uci_get(b, "dhcp", "@dnsmasq[0]", "dhcpscript"), None, "dhcpscript taken:\n{}", fs::read_to_string(b.config("dhcp")).unwrap());
    assert_eq!(uci_get(b, "dhcp", "@dnsmasq[0]", "leasefile"), None);
    let fw_b = fs::read_to_string(b.config("firewall")).unwrap();
    assert!(!fw_b.contains("evil"), "{}", fw_b);
    assert_eq!(uci_get(b, "firewall", "muros_ha", "path").as_deref(), Some("/etc/muros-ha/fw4-input.nft"));
    // Reported, on the backup (status.peer and log).
    let r = refused(b);
    for item in ["firewall.@include[1]", "dhcp.@dnsmasq[0].dhcpscript", "dhcp.@dnsmasq[0].leasefile"] {
        assert!(r.contains(&item.to_string()), "{} not in {:?}", item, r);
    }
    assert!(b.log().contains("refused from the peer"), "{}", b.log());
    // ... and in `history`, beside the transitions.
    let (code, out, _) = b.ubus(&["call", "muros_ha", "history"]);
    assert_eq!(code, 0, "{}", out);
    let h: serde_json::Value = serde_json::from_str(&out).unwrap();
    let refused_events: Vec<&serde_json::Value> = h["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "refused").collect();
    assert!(refused_events.iter().any(|e| e["message"].as_str().unwrap().contains("dhcpscript")), "history events: {}", h["events"]);
    // Per node by definition: not drift, on either side, and no push loop.
    assert!(a.wait(Duration::from_secs(3), |r| r.peer()["state"] == "in_sync"), "A: {}", a.peer());
    let applied = b.peer()["applied"].as_u64();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(b.peer()["applied"].as_u64(), applied, "the master keeps pushing");
    assert_eq!(b.peer()["state"], "in_sync");
    // Nothing was written outside /tmp on the backup.
    fs::write(a.root.join("tmp/dhcp.leases"), "1795700000 02:00:00:00:00:09 192.0.2.50 laptop *\n").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert!(!b.root.join("etc/dropbear/authorized_keys").exists(), "a root file was written from the peer");
}

#[test]
fn forged_lease_lines_are_dropped_and_a_lease_path_outside_tmp_is_never_written() {
    let Some(lab) = paired("l", FIREWALL, DHCP_A, DHCP_B) else { return };
    let (a, b) = (&lab.a, &lab.b);
    let good = "1795700000 02:00:00:00:00:09 192.0.2.50 laptop 01:02:00:00:00:00:09\n";
    let forged = "1795700001 02:00:00:00:00:0a 192.0.2.51 bank.example.com *\n1795700002 02:00:00:00:00:0b 192.0.2.52 two words *\naddress=/bank.example.com/203.0.113.66\n";
    fs::write(a.root.join("tmp/dhcp.leases"), format!("{good}{forged}")).unwrap();
    assert!(b.wait(Duration::from_secs(3), |r| fs::read_to_string(r.root.join("tmp/dhcp.leases")).ok().as_deref() == Some(good)), "B's lease file: {:?}\nB log:\n{}", fs::read_to_string(b.root.join("tmp/dhcp.leases")), b.log());
    assert_eq!(b.peer()["leases_dropped"], 3, "{}", b.peer());
    assert!(b.log().contains("dropped 3 malformed lease line"), "{}", b.log());

    // B's own leasefile points outside /tmp (left behind by an older release, say):
    // leases from the peer are not written there, and B says why.
    fs::create_dir_all(b.root.join("etc/dropbear")).unwrap();
    write_atomic(&b.config("dhcp"), &DHCP_A.replace("option domain 'lan'\n", "option domain 'lan'\n\toption leasefile '/etc/dropbear/authorized_keys'\n"));
    std::thread::sleep(Duration::from_millis(300));
    fs::write(a.root.join("tmp/dhcp.leases"), format!("{good}1795700003 02:00:00:00:00:0c 192.0.2.53 phone *\n")).unwrap();
    assert!(b.wait(Duration::from_secs(3), |r| r.peer()["last_error"].as_str().unwrap_or_default().contains("not a file directly in /tmp")), "{}", b.peer());
    assert!(!b.root.join("etc/dropbear/authorized_keys").exists());
    assert_eq!(fs::read_to_string(b.root.join("tmp/dhcp.leases")).unwrap(), good);
    assert_eq!(b.peer()["state"], "in_sync", "a refused option edited locally is not drift");
}

/// `/tmp` is world-writable: a user creating `/tmp/firewall` or `/tmp/muros_ha` must not
/// make the master reload or push (inotify events dispatch on the watched directory).
#[test]
fn a_local_user_creating_tmp_firewall_does_not_make_the_master_push() {
    let Some(lab) = paired("i", FIREWALL, DHCP_A, DHCP_B) else { return };
    let (a, b) = (&lab.a, &lab.b);
    std::thread::sleep(Duration::from_millis(500));
    let pushes = |r: &Router| r.log().matches("pushing firewall").count();
    let (before, applied) = (pushes(a), b.peer()["applied"].as_u64());
    for name in ["firewall", "dhcp", "muros_ha"] {
        fs::write(a.root.join("tmp").join(name), "config zone 'x'\n").unwrap();
    }
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(pushes(a), before, "A log:\n{}", a.log());
    assert_eq!(b.peer()["applied"].as_u64(), applied);
    // The real thing still replicates.
    write_atomic(&a.config("firewall"), &format!("{FIREWALL}\nconfig rule 'web'\n\toption dest_port '443'\n"));
    assert!(b.wait(Duration::from_secs(3), |r| uci_get(r, "firewall", "web", "dest_port").as_deref() == Some("443")), "{}", b.log());
}
