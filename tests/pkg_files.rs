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
    // Validate it against a network that has the sync interface: only "no VIP" remains.
    let net = muros_ha::uci::parse("config interface 'sync'\n\toption device 'eth2'\n\toption proto 'static'\n\toption ipaddr '198.18.0.1/30'\n", "network").unwrap();
    let src = muros_ha::model::Sources { muros: pkg, network: net, system: None, warnings: vec![] };
    let errors = muros_ha::model::validate(&src).unwrap_err();
    assert_eq!(errors.len(), 1, "{:?}", errors);
    assert!(errors[0].message.contains("no VIP"), "{:?}", errors);
}
