//! What the package ships agrees with what the binary expects.

use std::path::Path;

fn repo(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn the_shipped_keep_list_is_what_render_writes() {
    let shipped = std::fs::read_to_string(repo("files/muros-ha.keep")).unwrap();
    assert_eq!(shipped, muros_ha::render::sysupgrade::keep_d(), "files/muros-ha.keep and render::sysupgrade::keep_d() differ");
}

#[test]
fn the_shipped_default_config_uses_only_known_options() {
    let text = std::fs::read_to_string(repo("files/muros_ha.config")).unwrap();
    let pkg = muros_ha::uci::parse(&text, "files/muros_ha.config").unwrap();
    let g = pkg.section("global").unwrap();
    assert_eq!(g.get("enabled"), Some("0"), "the package must not start HA by itself");
    // Validate it against a network that has the sync interface: only "no VIP" and the
    // example password remain (check refuses `changeme` until the admin picks one).
    let net = muros_ha::uci::parse("config interface 'sync'\n\toption device 'eth2'\n\toption proto 'static'\n\toption ipaddr '198.18.0.1/30'\n", "network").unwrap();
    let src = muros_ha::model::Sources { muros: pkg, network: net, system: None, warnings: vec![] };
    let errors = muros_ha::model::validate(&src).unwrap_err();
    assert_eq!(errors.len(), 2, "{:?}", errors);
    assert!(errors[0].message.contains("no VIP"), "{:?}", errors);
    assert_eq!(errors[1].location, "global.password", "{:?}", errors);
}

fn read(p: &str) -> String {
    std::fs::read_to_string(repo(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// `VAR:=value` of a Makefile, the first one.
fn make_var<'a>(text: &'a str, var: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(var).and_then(|r| r.strip_prefix(":=")))
}

#[test]
fn the_openwrt_makefile_builds_the_local_tree_with_nothing_a_feed_reviewer_rejects() {
    let mk = read("openwrt/Makefile");
    for bad in ["skip", "example.invalid", "PKG_SOURCE", "PKG_HASH", "USE_SOURCE_DIR"] {
        // Comments may explain what is not there; no make line may use it.
        let used: Vec<&str> = mk.lines().filter(|l| !l.trim_start().starts_with('#') && l.contains(bad)).collect();
        assert!(used.is_empty(), "openwrt/Makefile uses {bad}: {used:?}");
    }
    assert!(mk.contains("define Build/Prepare"), "no download: the local tree is copied in");
    let version = make_var(&mk, "PKG_VERSION").unwrap();
    assert_eq!(version, env!("CARGO_PKG_VERSION"), "PKG_VERSION and the crate version differ");
    assert_eq!(make_var(&mk, "PKG_LICENSE"), Some("GPL-2.0-only"));
    assert_eq!(make_var(&mk, "PKG_LICENSE_FILES"), Some("LICENSE"));
    let depends = mk.lines().find_map(|l| l.trim_start().strip_prefix("DEPENDS:=")).unwrap();
    let deps: Vec<&str> = depends.split_ascii_whitespace().collect();
    for need in ["+keepalived", "+conntrackd", "+kmod-macvlan", "+firewall4"] {
        assert!(deps.contains(&need), "DEPENDS lacks {need}: {depends}");
    }
    // Every file the prepare step copies is in the tree.
    let files = make_var(&mk, "MUROS_HA_FILES").unwrap();
    for f in files.split_ascii_whitespace() {
        assert!(repo(f).exists(), "MUROS_HA_FILES names {f}, which does not exist");
    }
    // Every file Package/install takes from the build directory is among them.
    for l in mk.lines().filter(|l| l.contains("$(PKG_BUILD_DIR)/files/")) {
        let f = l.split("$(PKG_BUILD_DIR)/").nth(1).unwrap().split_ascii_whitespace().next().unwrap();
        assert!(repo(f).is_file(), "Package/install needs {f}");
    }
}

#[test]
fn the_luci_makefile_has_no_placeholder_and_finds_luci_mk_from_topdir() {
    let mk = read("luci-app-muros-ha/Makefile");
    assert!(!mk.contains("example.invalid") && !mk.contains("PKG_HASH"), "{mk}");
    assert!(mk.lines().any(|l| l == "include $(TOPDIR)/feeds/luci/luci.mk"), "{mk}");
    assert_eq!(make_var(&mk, "PKG_LICENSE"), Some("GPL-2.0-only"));
    assert!(mk.contains("+muros-ha"));
}

#[test]
fn the_license_file_is_the_gpl_2_that_pkg_license_names() {
    let text = read("LICENSE");
    let head: Vec<&str> = text.lines().take(2).map(str::trim_ascii).collect();
    assert_eq!(head, ["GNU GENERAL PUBLIC LICENSE", "Version 2, June 1991"]);
    assert!(text.contains("END OF TERMS AND CONDITIONS"));
    assert!(!text.contains("Version 3"), "GPL-2.0-only, not 3");
    // Debian's copy is the reference text (copied verbatim).
    if let Ok(debian) = std::fs::read_to_string("/usr/share/common-licenses/GPL-2") {
        assert_eq!(text, debian, "LICENSE differs from /usr/share/common-licenses/GPL-2");
    }
}

/// The committed Makefile's Build/Prepare, run by real make with stand-ins for the
/// buildroot's includes: it copies a tree cargo can read, from the checkout.
#[test]
fn build_prepare_copies_the_local_tree_into_the_build_dir() {
    use std::process::Command;
    if Command::new("make").arg("--version").output().is_err() {
        eprintln!("skip: no make");
        return;
    }
    let tmp = std::env::temp_dir().join(format!("muros-pkgmk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let top = tmp.join("top");
    let rust = top.join("feeds/packages/lang/rust");
    std::fs::create_dir_all(&rust).unwrap();
    std::fs::create_dir_all(top.join("include")).unwrap();
    std::fs::write(top.join("rules.mk"), "INSTALL_DIR:=install -d -m0755\nCP:=cp -fpR\n").unwrap();
    std::fs::write(top.join("include/package.mk"), "BuildPackage=\n").unwrap();
    std::fs::write(rust.join("rust-package.mk"), "RustBinPackage=\nRUST_ARCH_DEPENDS:=\n").unwrap();
    let driver = tmp.join("prepare.mk");
    std::fs::write(&driver, "prepare:\n\t$(Build/Prepare)\n").unwrap();
    let build = tmp.join("build/muros-ha-0");
    let out = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo("openwrt"))
        .args(["-f", "Makefile", "-f"])
        .arg(&driver)
        .arg(format!("TOPDIR={}", top.display()))
        .arg(format!("INCLUDE_DIR={}", top.join("include").display()))
        .arg(format!("PKG_BUILD_DIR={}", build.display()))
        .arg("prepare")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for f in ["Cargo.toml", "Cargo.lock", "LICENSE", "src/main.rs", "src/lib.rs", "files/muros-ha.init", "files/muros_ha.config", "files/muros-ha.uci-defaults", "files/muros-ha.keep", "files/muros-ha.hotplug-example", "files/muros_dhcp.proto", "files/muros_dhcp.script"] {
        assert_eq!(std::fs::read(build.join(f)).ok(), std::fs::read(repo(f)).ok(), "{f} not copied as is");
    }
    assert!(!build.join("tests").exists() && !build.join("target").exists(), "only what the build reads");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// scripts/release.sh: tarball from git, its sha256 in a Makefile that downloads it.
/// It archives the committed tree (HEAD), so it checks what was last committed.
#[test]
fn release_sh_writes_a_feed_makefile_with_the_tarballs_hash() {
    use std::process::Command;
    if Command::new("git").arg("-C").arg(repo(".")).args(["rev-parse", "HEAD"]).output().map_or(true, |o| !o.status.success()) {
        eprintln!("skip: not a git checkout");
        return;
    }
    let out_dir = std::env::temp_dir().join(format!("muros-release-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let v = env!("CARGO_PKG_VERSION");
    let run = |version: &str, url: &str| Command::new(repo("scripts/release.sh")).args([version, url]).env("OUTDIR", &out_dir).output().unwrap();
    let out = run(v, "https://downloads.example.org/muros-ha/");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tarball = out_dir.join(format!("muros-ha-{v}.tar.gz"));
    let sum = Command::new("sha256sum").arg(&tarball).output().unwrap();
    let hash = String::from_utf8_lossy(&sum.stdout).split_ascii_whitespace().next().unwrap().to_string();
    assert_eq!(hash.len(), 64);
    let mk = std::fs::read_to_string(out_dir.join("Makefile")).unwrap();
    assert_eq!(make_var(&mk, "PKG_HASH"), Some(hash.as_str()), "{mk}");
    assert_eq!(make_var(&mk, "PKG_SOURCE_URL"), Some("https://downloads.example.org/muros-ha"));
    assert_eq!(make_var(&mk, "PKG_SOURCE"), Some("$(PKG_NAME)-$(PKG_VERSION).tar.gz"));
    for gone in ["#@", "MUROS_HA_SRC", "Build/Prepare", "PKG_FILE_DEPENDS"] {
        assert!(!mk.contains(gone), "{gone} left in the release Makefile:\n{mk}");
    }
    assert!(mk.contains("define Package/muros-ha/install") && mk.contains("+firewall4"));
    // The tarball unpacks into PKG_BUILD_DIR's default name and has what the build reads.
    let list = Command::new("tar").arg("tzf").arg(&tarball).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for f in ["Cargo.toml", "Cargo.lock", "LICENSE", "src/main.rs", "files/muros-ha.init"] {
        assert!(list.lines().any(|l| l == format!("muros-ha-{v}/{f}")), "{f} missing from the tarball");
    }
    // A version that is not the crate's, or a URL make would mangle, is refused.
    assert!(!run("9.9.9", "https://x.org/").status.success());
    assert!(!run(v, "https://x.org/$(shell id)").status.success());
    assert!(!run(v, "ftp://x.org/").status.success());
    let _ = std::fs::remove_dir_all(&out_dir);
}

/// The shipped hotplug example, sourced the way muros-ha sources hotplug scripts: with
/// no webhook set it only logs one line per event (logger stubbed on the PATH, so the
/// host's syslog is never touched), and the values stay data.
#[test]
fn the_hotplug_example_logs_each_event_and_sends_nothing_by_default() {
    let tmp = std::env::temp_dir().join(format!("muros-hotplug-example-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let log = tmp.join("logger.args");
    let stub = tmp.join("logger");
    std::fs::write(&stub, format!("#!/bin/sh\nprintf '%s|' \"$@\" >> '{}'\necho >> '{}'\n", log.display(), log.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = |env: &[(&str, &str)]| {
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", ". \"$1\"", "x"])
            .arg(repo("files/muros-ha.hotplug-example"))
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", tmp.display()))
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[("ACTION", "master"), ("FROM", "BACKUP"), ("TO", "MASTER"), ("REASON", "keepalived GROUP muros_ha MASTER; $(id)")]);
    run(&[("ACTION", "split_brain"), ("ACTIVE", "1"), ("MESSAGE", "both MASTER")]);
    let got = std::fs::read_to_string(&log).unwrap();
    assert_eq!(got, "-t|muros-ha-hotplug|--|master BACKUP->MASTER: keepalived GROUP muros_ha MASTER; $(id)|\n-t|muros-ha-hotplug|--|split_brain raised: both MASTER|\n");
    let _ = std::fs::remove_dir_all(&tmp);
}
