//! LAN clients follow the VIP: `render` makes dnsmasq hand out the VIP as gateway and
//! DNS (`dhcp_option` 3 and 6, `force`) on every VIP interface of /etc/config/dhcp,
//! keeps every other line, takes back exactly what it added when HA is disabled, and
//! leaves an admin's own gateway alone with a warning from `check`.

#[allow(dead_code)]
mod fs_support;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_muros-ha");

/// OpenWrt's stock /etc/config/dhcp (dnsmasq, lan, wan ignored, odhcpd), with a guest
/// section, the admin's comments, an NTP option on lan and their own `force` on guest.
const STOCK_DHCP: &str = "\
config dnsmasq
\toption domainneeded '1'
\toption localise_queries '1'
\toption rebind_protection '1'
\toption local '/lan/'
\toption domain 'lan'
\toption authoritative '1'
\toption leasefile '/tmp/dhcp.leases'
\toption resolvfile '/tmp/resolv.conf.d/resolv.conf.auto'

# LAN: long leases, NTP from the box in the closet
config dhcp 'lan'
\toption interface 'lan'
\toption start '100'
\toption limit '150'
\toption leasetime '12h'
\toption dhcpv4 'server'
\toption dhcpv6 'server'
\toption ra 'server'
\tlist ra_flags 'managed-config'
\tlist ra_flags 'other-config'
\tlist dhcp_option '42,192.0.2.10'   # ntp

config dhcp 'wan'
\toption interface 'wan'
\toption ignore '1'

# guest Wi-Fi: short leases
config dhcp 'guest'
\toption interface 'guest'
\toption start '100'
\toption limit '50'
\toption leasetime '1h'
\toption force '1'

config odhcpd 'odhcpd'
\toption maindhcp '0'
\toption leasefile '/tmp/hosts/odhcpd'
\toption leasetrigger '/usr/sbin/odhcpd-update'
\toption loglevel '4'
";

struct Root(PathBuf);
impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
impl Root {
    fn dhcp(&self) -> PathBuf {
        self.0.join("etc/config/dhcp")
    }
    fn read_dhcp(&self) -> String {
        fs::read_to_string(self.dhcp()).unwrap()
    }
    /// Change /etc/config/muros_ha the way an admin would.
    fn edit_muros(&self, from: &str, to: &str) {
        let p = self.0.join("etc/config/muros_ha");
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{from} not in muros_ha");
        fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }
}

/// Router A of the shipped example: VIPs 192.0.2.1 on lan and 198.51.100.1 on guest.
fn root(tag: &str, dhcp: Option<&str>) -> Root {
    let extra: Vec<(&str, &str)> = dhcp.map(|text| ("dhcp", text)).into_iter().collect();
    Root(fs_support::router_a_root(&format!("dhcp-{tag}"), &extra))
}

/// `muros-ha <cmd> --root R …`: (exit code, stdout, stderr).
fn run(root: &Root, cmd: &str) -> (i32, String, String) {
    let mut c = Command::new(BIN);
    c.args([cmd, "--root", root.0.to_str().unwrap()]);
    if cmd == "render" {
        c.args(["--no-verify", "--hook", "/usr/sbin/muros-ha"]);
    }
    let out = c.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn render(root: &Root) -> String {
    let (code, stdout, stderr) = run(root, "render");
    assert_eq!(code, 0, "{stderr}");
    stdout
}

fn uci_show_dhcp(root: &Root) -> Option<String> {
    fs_support::real_uci_show(&root.0.join("etc/config"), "dhcp")
}

/// What render adds to the stock file: after lan's own `dhcp_option` line, and at the
/// end of guest (whose `force` is the admin's, so not ours to add or record).
fn with_vips(lan_vip: &str) -> String {
    STOCK_DHCP
        .replace(
            "\tlist dhcp_option '42,192.0.2.10'   # ntp\n",
            &format!("\tlist dhcp_option '42,192.0.2.10'   # ntp\n\tlist dhcp_option '3,{v}'\n\tlist dhcp_option '6,{v}'\n\toption force '1'\n\tlist muros_ha_added 'dhcp_option=3,{v}'\n\tlist muros_ha_added 'dhcp_option=6,{v}'\n\tlist muros_ha_added 'force=1'\n", v = lan_vip),
        )
        .replace(
            "\toption leasetime '1h'\n\toption force '1'\n",
            "\toption leasetime '1h'\n\toption force '1'\n\tlist dhcp_option '3,198.51.100.1'\n\tlist dhcp_option '6,198.51.100.1'\n\tlist muros_ha_added 'dhcp_option=3,198.51.100.1'\n\tlist muros_ha_added 'dhcp_option=6,198.51.100.1'\n",
        )
}

#[test]
fn every_vip_interface_hands_out_the_vip_as_gateway_and_dns_and_a_second_render_changes_nothing() {
    let root = root("set", Some(STOCK_DHCP));
    let stdout = render(&root);
    assert!(stdout.lines().any(|l| l == format!("wrote {}", root.dhcp().display())), "{stdout}");
    let text = root.read_dhcp();
    assert_eq!(text, with_vips("192.0.2.1"), "comments, wan, odhcpd and the admin's options are kept byte for byte");

    if let Some(show) = uci_show_dhcp(&root) {
        for line in [
            "dhcp.lan.dhcp_option='42,192.0.2.10' '3,192.0.2.1' '6,192.0.2.1'",
            "dhcp.lan.force='1'",
            "dhcp.guest.dhcp_option='3,198.51.100.1' '6,198.51.100.1'",
            "dhcp.guest.force='1'",
            "dhcp.wan.ignore='1'",
        ] {
            assert!(show.lines().any(|l| l == line), "{line} missing from:\n{show}");
        }
        assert!(!show.contains("dhcp.wan.dhcp_option"), "{show}");
    }

    // Second run: nothing to do, the file is not even rewritten.
    let before = fs::metadata(root.dhcp()).unwrap().modified().unwrap();
    let again = render(&root);
    assert!(again.lines().any(|l| l == format!("unchanged {}", root.dhcp().display())) || !again.contains("etc/config/dhcp"), "{again}");
    assert!(!again.lines().any(|l| l.starts_with("wrote ") && l.ends_with("etc/config/dhcp")), "{again}");
    assert_eq!(root.read_dhcp(), text);
    assert_eq!(fs::metadata(root.dhcp()).unwrap().modified().unwrap(), before);
}

#[test]
fn a_new_vip_replaces_our_entries_and_disabling_ha_takes_back_only_what_muros_ha_added() {
    let root = root("disable", Some(STOCK_DHCP));
    render(&root);
    root.edit_muros("option address '192.0.2.1/24'", "option address '192.0.2.5/24'");
    render(&root);
    assert_eq!(root.read_dhcp(), with_vips("192.0.2.5"), "the old VIP's entries are gone, NTP stays");

    root.edit_muros("option enabled '1'", "option enabled '0'");
    render(&root);
    // Back to the stock file: the NTP option, guest's own `force`, every comment.
    assert_eq!(root.read_dhcp(), STOCK_DHCP);
    if let Some(show) = uci_show_dhcp(&root) {
        assert!(show.lines().any(|l| l == "dhcp.lan.dhcp_option='42,192.0.2.10'"), "{show}");
        assert!(show.lines().any(|l| l == "dhcp.guest.force='1'"), "{show}");
        assert!(!show.contains("muros_ha_added") && !show.contains("dhcp.lan.force"), "{show}");
    }
}

#[test]
fn a_vip_removed_from_the_config_takes_its_entries_along() {
    let root = root("novip", Some(STOCK_DHCP));
    render(&root);
    root.edit_muros("config vip 'guest'\n\toption interface 'guest'\n\toption address '198.51.100.1/24'\n\toption vrid '11'\n", "");
    render(&root);
    let text = root.read_dhcp();
    assert!(text.contains("'3,192.0.2.1'"), "{text}");
    assert!(text.ends_with(&STOCK_DHCP[STOCK_DHCP.find("\nconfig dhcp 'wan'").unwrap()..]), "guest is back as it was:\n{text}");
}

#[test]
fn an_admins_own_gateway_is_kept_and_check_warns_with_file_line_and_option() {
    let own = STOCK_DHCP.replace("\tlist dhcp_option '42,192.0.2.10'   # ntp\n", "\tlist dhcp_option '42,192.0.2.10'   # ntp\n\tlist dhcp_option '3,192.0.2.254'\n");
    let line = own.lines().position(|l| l.contains("'3,192.0.2.254'")).unwrap() + 1;
    let root = root("own", Some(&own));

    let (code, stdout, stderr) = run(&root, "check");
    assert_eq!(code, 0, "a warning, not an error: {stderr}");
    assert!(stdout.starts_with("ok:"), "{stdout}");
    let want = format!(
        "warning: {}:{line}: dhcp.lan.dhcp_option: '3,192.0.2.254' hands DHCP clients on 'lan' another gateway than the VIP 192.0.2.1; muros-ha leaves an admin's own option in place, so these clients will not follow the VIP on failover (remove it to let muros-ha hand out '3,192.0.2.1')",
        root.dhcp().display()
    );
    assert!(stderr.lines().any(|l| l == want), "want {want}\nin:\n{stderr}");
    assert_eq!(stderr.matches("warning: ").count(), 1, "only the gateway conflicts:\n{stderr}");

    // render says the same, keeps the admin's gateway and still sets the DNS server.
    let (code, _, stderr) = run(&root, "render");
    assert_eq!(code, 0);
    assert!(stderr.lines().any(|l| l == want), "{stderr}");
    let pkg = muros_ha::uci::parse(&root.read_dhcp(), "dhcp").unwrap();
    assert_eq!(pkg.section("lan").unwrap().list("dhcp_option"), vec!["42,192.0.2.10", "3,192.0.2.254", "6,192.0.2.1"]);
    assert_eq!(pkg.section("lan").unwrap().list("muros_ha_added"), vec!["dhcp_option=6,192.0.2.1", "force=1"]);
}

#[test]
fn no_dhcp_served_means_nothing_set_and_nothing_to_warn_about() {
    // guest with `ignore '1'` (and an option 3 of its own), no section for lan at all.
    let text = "config dhcp 'guest'\n\toption interface 'guest'\n\toption ignore '1'\n\tlist dhcp_option '3,198.51.100.254'\n";
    let root = root("ignore", Some(text));
    let (code, stdout, stderr) = run(&root, "check");
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("warning"), "{stdout}{stderr}");
    render(&root);
    assert_eq!(root.read_dhcp(), text);

    // No /etc/config/dhcp (no dnsmasq): none is created.
    let bare = self::root("nofile", None);
    render(&bare);
    assert!(!bare.dhcp().exists());
}
