//! `render` declares the shared-MAC WAN in /etc/config/network (macvlan device +
//! DHCP interface with auto 0), keeping every other line, and only once.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_muros-ha");

struct Root(PathBuf);
impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn root_with_network(tag: &str, network: &str) -> Root {
    let dir = std::env::temp_dir().join(format!("muros-netwan-{}-{}", tag, std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("etc/config")).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/router-a/etc/config");
    fs::copy(src.join("muros_ha"), dir.join("etc/config/muros_ha")).unwrap();
    let base = fs::read_to_string(src.join("network")).unwrap();
    fs::write(dir.join("etc/config/network"), format!("{}{}", base, network)).unwrap();
    Root(dir)
}

fn render(root: &Root) -> String {
    let out = Command::new(BIN).args(["render", "--root", root.0.to_str().unwrap(), "--no-verify", "--hook", "/usr/sbin/muros-ha"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn uci_show(root: &Root) -> Option<String> {
    let mut cands = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/openwrt-tools/bin/uci")];
    if let Ok(s) = std::env::var("MUROS_SHARED") {
        cands.insert(0, PathBuf::from(s).join("openwrt-tools/bin/uci"));
    }
    let uci = cands.into_iter().find(|p| p.is_file())?;
    let save = root.0.join("uci-save");
    let out = Command::new(uci).arg("-c").arg(root.0.join("etc/config")).arg("-t").arg(&save).args(["-C", "", "show", "network"]).output().unwrap();
    assert!(out.status.success(), "real uci cannot read our network file: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_macvlan_wan_is_added_once_and_comments_survive() {
    let root = root_with_network("add", "\n# keep me: a comment the admin wrote\n");
    let stdout = render(&root);
    assert!(stdout.contains("etc/config/network"), "{}", stdout);
    let text = fs::read_to_string(root.0.join("etc/config/network")).unwrap();
    assert!(text.contains("# keep me: a comment the admin wrote"));
    assert!(text.contains("# direct cable to router B"));
    if let Some(show) = uci_show(&root) {
        for line in [
            "network.muros_ha_wan=device",
            "network.muros_ha_wan.type='macvlan'",
            "network.muros_ha_wan.ifname='eth1'",
            "network.muros_ha_wan.macaddr='02:6d:75:72:6f:73'",
            "network.wan.device='ha-wan'",
            "network.wan.proto='muros_dhcp'",
            "network.wan.auto='0'",
        ] {
            assert!(show.contains(line), "missing {} in\n{}", line, show);
        }
    }
    let before = fs::read(root.0.join("etc/config/network")).unwrap();
    let stdout = render(&root);
    assert!(!stdout.contains("wrote"), "second render changed something: {}", stdout);
    assert_eq!(fs::read(root.0.join("etc/config/network")).unwrap(), before);
}

#[test]
fn an_existing_dhcp_wan_is_moved_onto_the_macvlan() {
    let root = root_with_network("move", "\nconfig interface 'wan'\n\toption ifname 'eth1'\n\toption proto 'dhcp'\n\toption peerdns '0'\n");
    render(&root);
    let text = fs::read_to_string(root.0.join("etc/config/network")).unwrap();
    let start = text.find("config interface 'wan'").unwrap();
    let rest = &text[start + 1..];
    let wan = &text[start..start + 1 + rest.find("\nconfig ").unwrap_or(rest.len())];
    assert!(wan.contains("option device 'ha-wan'") && wan.contains("option auto '0'"), "{}", wan);
    // plain DHCP becomes our proto: DHCP that starts a takeover from the cached lease
    assert!(wan.contains("option proto 'muros_dhcp'") && !wan.contains("'dhcp'"), "{}", wan);
    assert!(!wan.contains("option ifname"), "the old ifname would bring the parent up: {}", wan);
    assert!(wan.contains("option peerdns '0'"), "unrelated options are kept: {}", wan);
}

#[test]
fn a_second_macvlan_with_the_shared_mac_is_refused_not_added() {
    let root = root_with_network("dup", "\nconfig device\n\toption type 'macvlan'\n\toption name 'wan'\n\toption ifname 'eth1'\n\toption macaddr '02:6D:75:72:6F:73'\n");
    let before = fs::read(root.0.join("etc/config/network")).unwrap();
    let out = Command::new(BIN).args(["render", "--root", root.0.to_str().unwrap(), "--no-verify", "--hook", "/usr/sbin/muros-ha"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", err);
    assert!(err.contains("already sits on eth1") && err.contains("option device 'wan'"), "{}", err);
    assert_eq!(fs::read(root.0.join("etc/config/network")).unwrap(), before);
    assert!(!root.0.join("etc/keepalived/keepalived.conf").exists(), "nothing is installed on a refused render");
}

/// Issue 18: a `list vpn` tunnel gets `auto '0'` (the failover engine brings it up on
/// MASTER only); its keys and peers are left as they are, and a second render is a no-op.
#[test]
fn a_vpn_interface_is_left_to_the_failover_engine() {
    let root = root_with_network("vpn", "\nconfig interface 'wg0'\n\toption proto 'wireguard'\n\toption private_key 'kept'\n\toption listen_port '51820'\n\nconfig wireguard_wg0\n\toption public_key 'peer'\n\tlist allowed_ips '198.19.77.2/32'\n\tlist allowed_ips '198.51.100.128/25'\n\tlist allowed_ips 'fd00:77::/64'\n\tlist allowed_ips '0.0.0.0/0'\n");
    let conf = root.0.join("etc/config/muros_ha");
    let text = fs::read_to_string(&conf).unwrap().replacen("config global 'global'\n", "config global 'global'\n\tlist vpn 'wg0'\n", 1);
    fs::write(&conf, text).unwrap();
    render(&root);
    if let Some(show) = uci_show(&root) {
        for line in [
            "network.wg0.auto='0'",
            "network.wg0.private_key='kept'",
            "network.@wireguard_wg0[0].public_key='peer'",
            // the tunnel's networks never take the default route while it is down
            "network.muros_hold_wg0_4_0=route",
            "network.muros_hold_wg0_4_0.target='198.19.77.2/32'",
            "network.muros_hold_wg0_4_0.type='unreachable'",
            "network.muros_hold_wg0_4_0.metric='1000'",
            "network.muros_hold_wg0_4_0.interface='loopback'",
            "network.muros_hold_wg0_4_1.target='198.51.100.128/25'",
            "network.muros_hold_wg0_6_0=route6",
            "network.muros_hold_wg0_6_0.target='fd00:77::/64'",
        ] {
            assert!(show.contains(line), "missing {} in\n{}", line, show);
        }
        assert!(!show.contains("0.0.0.0/0'\nnetwork.muros_hold") && !show.contains("muros_hold_wg0_4_2"), "no hold for a default route:\n{show}");
    }
    let before = fs::read(root.0.join("etc/config/network")).unwrap();
    let stdout = render(&root);
    assert!(!stdout.contains("wrote"), "second render changed something: {}", stdout);
    assert_eq!(fs::read(root.0.join("etc/config/network")).unwrap(), before);
    // A network the peer no longer carries loses its hold.
    let net = root.0.join("etc/config/network");
    fs::write(&net, fs::read_to_string(&net).unwrap().replace("\tlist allowed_ips '198.51.100.128/25'\n", "")).unwrap();
    render(&root);
    let text = fs::read_to_string(&net).unwrap();
    assert!(!text.contains("198.51.100.128/25") && !text.contains("muros_hold_wg0_4_1") && text.contains("muros_hold_wg0_6_0"), "{text}");
}
