//! `render` puts the fw4 snippet under /etc/muros-ha (ours, kept by sysupgrade) and
//! makes fw4 include it through `config include 'muros_ha'` in /etc/config/firewall:
//! added once, every other line kept, and the snippet a previous release left in
//! fw4's package directory removed.

#[allow(dead_code)]
mod fs_support;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_muros-ha");
const SNIPPET: &str = "etc/muros-ha/fw4-input.nft";
const LEGACY: &str = "usr/share/nftables.d/chain-pre/input/30-muros-ha.nft";

/// The head of OpenWrt's stock /etc/config/firewall, with an admin's comment.
const STOCK_FIREWALL: &str = "config defaults\n\toption syn_flood\t1\n\toption input\t\tREJECT\n\toption output\t\tACCEPT\n\toption forward\t\tREJECT\n\n# my own note: keep it\nconfig zone\n\toption name\t\tlan\n\tlist   network\t\t'lan'\n\toption input\t\tACCEPT\n\n# Include a file with custom firewall rules\n#config include\n#\toption path /etc/firewall.user\n";

struct Root(PathBuf);
impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn root(tag: &str, firewall: Option<&str>) -> Root {
    let extra: Vec<(&str, &str)> = firewall.map(|text| ("firewall", text)).into_iter().collect();
    Root(fs_support::router_a_root(&format!("fwinc-{tag}"), &extra))
}

fn render(root: &Root, extra: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["render", "--root", root.0.to_str().unwrap(), "--no-verify", "--hook", "/usr/sbin/muros-ha"])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn uci_show_firewall(root: &Root) -> Option<String> {
    fs_support::real_uci_show(&root.0.join("etc/config"), "firewall")
}

#[test]
fn the_snippet_is_written_under_etc_and_fw4_includes_it_once() {
    let root = root("add", Some(STOCK_FIREWALL));
    let stdout = render(&root, &[]);
    assert!(root.0.join(SNIPPET).is_file(), "{stdout}");
    assert!(!root.0.join("usr/share/nftables.d").exists(), "nothing goes into fw4's package directory");
    assert!(stdout.contains("etc/config/firewall"), "{stdout}");

    let text = fs::read_to_string(root.0.join("etc/config/firewall")).unwrap();
    assert!(text.starts_with(STOCK_FIREWALL), "the admin's lines are kept as they were:\n{text}");
    assert_eq!(
        &text[STOCK_FIREWALL.len()..],
        "\nconfig include 'muros_ha'\n\toption type 'nftables'\n\toption path '/etc/muros-ha/fw4-input.nft'\n\toption position 'chain-prepend'\n\toption chain 'input'\n"
    );
    if let Some(show) = uci_show_firewall(&root) {
        for line in [
            "firewall.muros_ha=include",
            "firewall.muros_ha.type='nftables'",
            "firewall.muros_ha.path='/etc/muros-ha/fw4-input.nft'",
            "firewall.muros_ha.position='chain-prepend'",
            "firewall.muros_ha.chain='input'",
        ] {
            assert!(show.lines().any(|l| l == line), "{line} missing from:\n{show}");
        }
    }

    // Second run: nothing to do, the file is not even rewritten.
    let before = fs::metadata(root.0.join("etc/config/firewall")).unwrap().modified().unwrap();
    let again = render(&root, &[]);
    assert!(!again.lines().any(|l| l.starts_with("changed ")), "{again}");
    assert_eq!(fs::read_to_string(root.0.join("etc/config/firewall")).unwrap(), text);
    assert_eq!(fs::metadata(root.0.join("etc/config/firewall")).unwrap().modified().unwrap(), before);
}

#[test]
fn an_include_the_admin_bent_is_put_back_and_their_other_options_stay() {
    let bent = format!("{STOCK_FIREWALL}\nconfig include 'muros_ha'\n\toption path '/tmp/elsewhere.nft' # moved by hand\n\toption type 'nftables'\n\toption enabled '1'\n");
    let root = root("fix", Some(&bent));
    render(&root, &[]);
    let text = fs::read_to_string(root.0.join("etc/config/firewall")).unwrap();
    assert!(text.contains("\toption path '/etc/muros-ha/fw4-input.nft' # moved by hand\n"), "value replaced in place:\n{text}");
    assert!(text.contains("\toption enabled '1'\n"));
    assert_eq!(text.matches("config include 'muros_ha'").count(), 1, "{text}");
    assert!(text.contains("option position 'chain-prepend'") && text.contains("option chain 'input'"), "{text}");
}

#[test]
fn a_router_without_a_firewall_config_gets_none_and_a_warning() {
    let root = root("nofw", None);
    let out = Command::new(BIN)
        .args(["render", "--root", root.0.to_str().unwrap(), "--no-verify", "--hook", "/usr/sbin/muros-ha"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!root.0.join("etc/config/firewall").exists(), "no fw4 here: nothing to include into");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("fw4 will not include"), "{all}");
}

#[test]
fn upgrading_removes_the_snippet_the_previous_release_left_in_fw4s_package_directory() {
    let root = root("upgrade", Some(STOCK_FIREWALL));
    let legacy = root.0.join(LEGACY);
    fs::create_dir_all(legacy.parent().unwrap()).unwrap();
    // What 0.1.0 rendered, plus a package's own file beside it that must stay.
    fs::write(&legacy, "# Generated by muros-ha from /etc/config/muros_ha.\niifname \"br-lan\" ip protocol 112 accept\n").unwrap();
    let other = legacy.with_file_name("10-other-package.nft");
    fs::write(&other, "# someone else's\n").unwrap();

    // A dry run reports the removal and removes nothing.
    let dry = render(&root, &["--dry-run"]);
    assert!(dry.contains(LEGACY), "{dry}");
    assert!(legacy.is_file());

    let stdout = render(&root, &[]);
    assert!(stdout.contains(LEGACY), "the removal is reported: {stdout}");
    assert!(!legacy.exists(), "the stale snippet is gone");
    assert!(other.is_file(), "another package's snippet is left alone");
    assert!(root.0.join(SNIPPET).is_file(), "the new snippet took its place");
    assert!(fs::read_to_string(root.0.join("etc/config/firewall")).unwrap().contains("option path '/etc/muros-ha/fw4-input.nft'"));
    // Nothing left to remove the second time.
    let again = render(&root, &[]);
    assert!(!again.contains(LEGACY), "{again}");
}

/// A static WAN adds the srcnat include (and its snippet) beside ours; back to the DHCP
/// WAN, that include goes again and the admin's lines are as they were.
#[test]
fn a_static_wan_adds_the_srcnat_include_and_removing_it_takes_it_back() {
    let root = root("static", Some(STOCK_FIREWALL));
    let conf = root.0.join("etc/config/muros_ha");
    let dhcp_wan = fs::read_to_string(&conf).unwrap();
    let static_wan = dhcp_wan.replace(
        "config wan 'wan'\n\toption interface 'wan'\n\toption parent 'eth1'\n\toption macaddr '02:6d:75:72:6f:73'",
        "config wan 'wan'\n\toption proto 'static'\n\toption interface 'wan'\n\toption ipaddr '203.0.113.10/24'\n\toption gateway '203.0.113.1'",
    );
    assert_ne!(static_wan, dhcp_wan, "the example's wan section changed; update this test");
    fs::write(&conf, &static_wan).unwrap();
    let net = root.0.join("etc/config/network");
    let mut network = fs::read_to_string(&net).unwrap();
    network.push_str("\nconfig interface 'wan'\n\toption device 'eth1'\n\toption proto 'static'\n\toption ipaddr '203.0.113.2/24'\n");
    fs::write(&net, &network).unwrap();

    let out = render(&root, &[]);
    let text = fs::read_to_string(root.0.join("etc/config/firewall")).unwrap();
    assert!(text.starts_with(STOCK_FIREWALL), "{text}");
    assert!(
        text.ends_with("\nconfig include 'muros_ha_srcnat'\n\toption type 'nftables'\n\toption path '/etc/muros-ha/fw4-srcnat.nft'\n\toption position 'chain-prepend'\n\toption chain 'srcnat'\n"),
        "{out}\n{text}"
    );
    let nat = fs::read_to_string(root.0.join("etc/muros-ha/fw4-srcnat.nft")).unwrap();
    assert!(nat.contains("oifname \"eth1\" ip saddr != { 203.0.113.2, 203.0.113.10 } counter snat ip to 203.0.113.10"), "{nat}");
    if let Some(show) = uci_show_firewall(&root) {
        assert!(show.lines().any(|l| l == "firewall.muros_ha_srcnat.chain='srcnat'"), "{show}");
    }
    let network_after = fs::read_to_string(&net).unwrap();
    assert!(network_after.ends_with("option ipaddr '203.0.113.2/24'\n"), "the static WAN interface is the admin's: {network_after}");

    fs::write(&conf, &dhcp_wan).unwrap();
    render(&root, &[]);
    let back = fs::read_to_string(root.0.join("etc/config/firewall")).unwrap();
    assert!(!back.contains("muros_ha_srcnat"), "{back}");
    assert!(back.starts_with(STOCK_FIREWALL) && back.contains("config include 'muros_ha'"), "{back}");
}
