//! Editor against the real uci: the edits muros-ha makes to /etc/config/network and
//! /etc/config/muros_ha read back in real uci as intended, keep every unrelated byte,
//! and are idempotent; random edits on the corpus give the same result as the same
//! change made with `uci set/delete/add_list` + `uci commit`.

mod uci_common;

use muros_ha::uci::{parse, Editor, UciError, Value};
use uci_common::{corpus, mutate, real_uci, RealRead, RealSection, Rng};

const NETWORK: &str = "\
# /etc/config/network of a lab router. Comments must survive.

config interface 'loopback'
\toption device 'lo'
\toption proto 'static'
\toption ipaddr '127.0.0.1'
\toption netmask '255.0.0.0'

config globals 'globals'
\toption ula_prefix 'fd00:db8::/48'   # hand-edited, keep this note

config device
\toption name 'br-lan'
\toption type 'bridge'
\tlist ports 'lan1'
\tlist ports 'lan2'

config interface 'lan'
\toption device 'br-lan'
\toption proto 'static'
\toption ipaddr '192.0.2.1'
\toption netmask '255.255.255.0'

# the uplink
config interface 'wan'
\toption device 'wan'
\toption proto 'dhcp'
";

const MUROS_HA: &str = "\
# muros-ha settings
config global 'global'
\toption enabled '1'
\toption role 'master'
\toption priority '150'
\toption maintenance '0'	# toggled by `muros-ha maintenance`

config vip 'lan'
\toption interface 'lan'
\toption address '192.0.2.254/24'
";

/// What muros-ha does to the network config: a shared-MAC macvlan device and a DHCP
/// interface on it.
fn add_macvlan_wan(text: &str) -> Result<String, UciError> {
    let mut ed = Editor::new(text, "network")?;
    ed.ensure_section("device", "muros_wan")?;
    ed.set_option("muros_wan", "type", "macvlan")?;
    ed.set_option("muros_wan", "ifname", "wan")?;
    ed.set_option("muros_wan", "name", "mwan0")?;
    ed.set_option("muros_wan", "macaddr", "02:00:5e:00:01:0a")?;
    ed.set_option("muros_wan", "mode", "private")?;
    ed.ensure_section("interface", "muros_wan4")?;
    ed.set_option("muros_wan4", "device", "mwan0")?;
    ed.set_option("muros_wan4", "proto", "dhcp")?;
    ed.set_option("muros_wan4", "auto", "0")?;
    Ok(ed.finish())
}

fn set_maintenance(text: &str, on: bool) -> Result<String, UciError> {
    let mut ed = Editor::new(text, "muros_ha")?;
    ed.set_option("global", "maintenance", if on { "1" } else { "0" })?;
    Ok(ed.finish())
}

fn accepted(r: RealRead) -> Vec<RealSection> {
    match r {
        RealRead::Accepted(s) => s,
        RealRead::Rejected { reason, line } => panic!("real uci rejects the edited file: {reason} at line {line}"),
    }
}

fn opt(s: &RealSection, name: &str) -> Option<Value> {
    s.options.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

#[test]
fn macvlan_wan_sections_are_added_once_and_real_uci_reads_them() -> Result<(), UciError> {
    let once = add_macvlan_wan(NETWORK)?;
    let twice = add_macvlan_wan(&once)?;
    assert_eq!(once, twice, "second run changed bytes");
    // Only appended: every original byte, comments included, is still there in place.
    assert!(once.starts_with(NETWORK), "original text not preserved:\n{once}");
    assert!(once.ends_with("config device 'muros_wan'\n\toption type 'macvlan'\n\toption ifname 'wan'\n\toption name 'mwan0'\n\toption macaddr '02:00:5e:00:01:0a'\n\toption mode 'private'\n\nconfig interface 'muros_wan4'\n\toption device 'mwan0'\n\toption proto 'dhcp'\n\toption auto '0'\n"), "{once}");

    let Some(uci) = real_uci() else { return Ok(()) };
    let real = accepted(uci.read("network", &once));
    let ours = parse(&once, "network")?;
    assert_eq!(real.len(), 7);
    assert_eq!(real.len(), ours.sections.len());
    let dev = &real[5];
    assert_eq!((dev.stype.as_str(), dev.name.as_deref()), ("device", Some("muros_wan")));
    assert_eq!(opt(dev, "type"), Some(Value::Single("macvlan".into())));
    assert_eq!(opt(dev, "macaddr"), Some(Value::Single("02:00:5e:00:01:0a".into())));
    let iface = &real[6];
    assert_eq!((iface.stype.as_str(), iface.name.as_deref()), ("interface", Some("muros_wan4")));
    assert_eq!(opt(iface, "proto"), Some(Value::Single("dhcp".into())));
    // The untouched sections read exactly as before.
    let before = accepted(uci.read("network", NETWORK));
    assert_eq!(&real[..5], &before[..]);
    Ok(())
}

#[test]
fn maintenance_toggle_changes_one_token_and_nothing_else() -> Result<(), UciError> {
    let on = set_maintenance(MUROS_HA, true)?;
    assert_eq!(set_maintenance(&on, true)?, on);
    let changed: Vec<(&str, &str)> = MUROS_HA.lines().zip(on.lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(changed, vec![("\toption maintenance '0'\t# toggled by `muros-ha maintenance`", "\toption maintenance '1'\t# toggled by `muros-ha maintenance`")]);
    assert_eq!(on.len(), MUROS_HA.len());
    let off = set_maintenance(&on, false)?;
    assert_eq!(off, MUROS_HA, "toggling back restores the original bytes");

    let Some(uci) = real_uci() else { return Ok(()) };
    let real = accepted(uci.read("muros_ha", &on));
    assert_eq!(opt(&real[0], "maintenance"), Some(Value::Single("1".into())));
    Ok(())
}

#[test]
fn maintenance_option_is_added_when_missing() -> Result<(), UciError> {
    let without = MUROS_HA.replace("\toption maintenance '0'\t# toggled by `muros-ha maintenance`\n", "");
    let on = set_maintenance(&without, true)?;
    assert_eq!(on, without.replace("\toption priority '150'\n", "\toption priority '150'\n\toption maintenance '1'\n"));
    Ok(())
}

/// Sections from real uci with list-valued options sorted by name, for comparisons where
/// uci's delete + add_list moves a list to the end of its section.
fn sorted(mut s: Vec<RealSection>) -> Vec<RealSection> {
    for sec in &mut s {
        sec.options.sort_by(|a, b| a.0.cmp(&b.0));
        sec.id.clear();
    }
    s
}

const NAMES: &[&str] = &["x", "proto", "y", "l1", "keep", "a", "new_opt"];
const VALUES: &[&str] = &["1", "it's", "two words", "x\ny", "#;\\\"", "é", "'", "tab\there"];

#[test]
fn random_edits_match_the_same_change_made_by_real_uci() {
    let Some(uci) = real_uci() else { return };
    let seed: u64 = std::env::var("UCI_EDIT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xed17);
    let cases: usize = std::env::var("UCI_EDIT_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let mut rng = Rng(seed | 1);
    let files: Vec<(String, String)> = corpus().into_iter().filter(|(_, t)| t.len() < 4000).collect();
    let mut compared = 0;
    for case in 0..cases {
        let (fname, base) = &files[rng.below(files.len())];
        // Half the time a mutated file, to meet odd layouts real uci still accepts.
        let text = &if rng.below(2) == 0 { base.clone() } else { mutate(&mut rng, base) };
        let Ok(mut ed) = Editor::new(text, "corpus") else { continue };
        let n = ed.package().sections.len();
        if n == 0 {
            continue;
        }
        let idx = rng.below(n);
        // Address it the way uci does: generated/real name or @type[N].
        let section = if rng.below(2) == 0 { ed.package().uci_id(idx) } else { ed.package().display_name(idx) };
        let name = NAMES[rng.below(NAMES.len())];
        let op = rng.below(3);
        let values: Vec<&str> = (0..1 + rng.below(3)).map(|_| VALUES[rng.below(VALUES.len())]).collect();
        let result = match op {
            0 => ed.set_option(&section, name, values[0]),
            1 => ed.set_list(&section, name, &values),
            _ => ed.delete_option(&section, name),
        };
        let ours = match result {
            Ok(_) => ed.finish(),
            Err(e) => {
                // Refusing is allowed only for statements sharing a line or a trailing backslash.
                assert!(
                    e.message.contains("several statements") || e.message.contains("would not parse"),
                    "case {case} ({fname}): unexpected refusal {e}"
                );
                continue;
            }
        };
        // Same change through the real uci CLI on the original file.
        std::fs::write(uci.config_dir().join("corpus"), text).expect("write");
        let target = format!("corpus.{section}.{name}");
        let mut cmds: Vec<Vec<String>> = Vec::new();
        match op {
            0 => cmds.push(vec!["set".into(), format!("{target}={}", values[0])]),
            1 => {
                cmds.push(vec!["delete".into(), target.clone()]);
                for v in &values {
                    cmds.push(vec!["add_list".into(), format!("{target}={v}")]);
                }
            }
            _ => cmds.push(vec!["delete".into(), target.clone()]),
        }
        for c in &cmds {
            let args: Vec<&str> = c.iter().map(String::as_str).collect();
            // `delete` of a missing option fails harmlessly; the commit result is what counts.
            let _ = uci.run(&args);
        }
        // Compare with uci's view of file + changes. (Not with what `uci commit` writes:
        // commit writes a type containing a quote bare, and cannot read that file back.)
        let real = accepted(uci.current("corpus"));
        let mine = accepted(uci.read("corpus", &ours));
        if op == 1 {
            assert_eq!(sorted(mine), sorted(real), "case {case} ({fname}): set_list {section}.{name}={values:?}\nours:\n{ours}");
        } else {
            let strip = |v: Vec<RealSection>| v.into_iter().map(|mut s| { s.id.clear(); s }).collect::<Vec<_>>();
            assert_eq!(strip(mine), strip(real), "case {case} ({fname}): op {op} {section}.{name}={values:?}\nours:\n{ours}");
        }
        // Every line the edit did not touch is still there, in order.
        let kept = text.lines().filter(|l| ours.lines().any(|o| o == *l)).count();
        assert!(kept + 3 + values.len() * 2 >= text.lines().count(), "case {case}: too many lines lost");
        compared += 1;
    }
    assert!(compared > cases / 4, "only {compared} edits compared");
}
