//! Unit tests for the basics; the exhaustive comparison with the real `uci` binary is in
//! tests/uci_differential.rs.

use super::*;

fn p(text: &str) -> Package {
    match parse(text, "/etc/config/t") {
        Ok(p) => p,
        Err(e) => panic!("unexpected error {e} for {text:?}"),
    }
}

fn err(text: &str) -> UciError {
    match parse(text, "t") {
        Ok(p) => panic!("expected an error for {text:?}, got {p:?}"),
        Err(e) => e,
    }
}

#[test]
fn named_and_anonymous_sections_with_options_and_lists() {
    let pkg = p("package t\n\nconfig interface 'lan'\n\toption proto 'static'\n\tlist dns '192.0.2.1'\n\tlist dns \"192.0.2.2\"\n\nconfig rule\n\toption name x\n");
    assert_eq!(pkg.name, "t");
    assert_eq!(pkg.sections.len(), 2);
    let lan = pkg.section("lan").expect("lan");
    assert_eq!(lan.stype, "interface");
    assert_eq!(lan.line, 3);
    assert_eq!(lan.get("proto"), Some("static"));
    assert_eq!(lan.list("dns"), vec!["192.0.2.1", "192.0.2.2"]);
    assert_eq!(lan.line_of("dns"), 6);
    assert_eq!(pkg.display_name(1), "@rule[0]");
    assert_eq!(pkg.resolve("@rule[0]"), Some(1));
    assert_eq!(pkg.resolve("@rule[-1]"), Some(1));
    assert_eq!(pkg.resolve("@[0]"), Some(0));
    assert_eq!(pkg.resolve("@rule[1]"), None);
    assert_eq!(pkg.resolve("lan"), Some(0));
}

#[test]
fn anonymous_ids_match_what_uci_x_show_prints() {
    // Values observed with `uci -X show`: `config b` as 2nd section is cfg02b607.
    let pkg = p("config a 'x'\nconfig b\nconfig a\n");
    assert_eq!(pkg.uci_id(1), "cfg02b607");
    assert_eq!(pkg.uci_id(2), "cfg03b606");
    assert_eq!(pkg.resolve("cfg02b607"), Some(1));
}

#[test]
fn quotes_escapes_and_comments() {
    let pkg = p("config a b\n option x \"a\\\"b\\\\c\\x\"\n option y 'it'\\''s'\n option z foo#bar\n option w 'q'#c\n # comment\n");
    let s = &pkg.sections[0];
    assert_eq!(s.get("x"), Some("a\"b\\cx"));
    assert_eq!(s.get("y"), Some("it's"));
    assert_eq!(s.get("z"), Some("foo"));
    assert_eq!(s.get("w"), Some("q"));
}

#[test]
fn backslash_newline_continues_but_leading_blank_ends_the_word() {
    let pkg = p("config a b\n option z a\\\nb\n option u 'q\\\nr'\n");
    assert_eq!(pkg.sections[0].get("z"), Some("ab"));
    assert_eq!(pkg.sections[0].get("u"), Some("q\\\nr"));
    let e = err("config a b\n option w a\\\n  b\n");
    assert_eq!((e.line, e.message.starts_with("too many arguments")), (2, true), "{e}");
}

#[test]
fn empty_option_is_ignored_but_empty_list_item_is_kept() {
    let pkg = p("config a x\n option q v\n option q ''\n option e\n list l ''\n");
    let s = &pkg.sections[0];
    assert_eq!(s.get("q"), Some("v"));
    assert!(s.option("e").is_none());
    assert_eq!(s.option("l").map(|o| &o.value), Some(&Value::List(vec![String::new()])));
}

#[test]
fn option_and_list_of_the_same_name_combine_like_uci() {
    let pkg = p("config a x\n option o 1\n list o 2\n option p 1\n list p 2\n option p 3\n");
    let s = &pkg.sections[0];
    assert_eq!(s.option("o").map(|o| &o.value), Some(&Value::List(vec!["1".into(), "2".into()])));
    assert_eq!(s.option("p").map(|o| &o.value), Some(&Value::Single("3".into())));
    assert_eq!(s.options.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), vec!["o", "p"]);
    assert_eq!(s.line_of("p"), 6);
}

#[test]
fn duplicate_named_sections_merge_and_type_change_is_rejected() {
    let pkg = p("config a b\noption x 1\nconfig a\nconfig a b\noption y 2\n");
    assert_eq!(pkg.sections.len(), 2);
    assert_eq!(pkg.sections[0].get("x"), Some("1"));
    assert_eq!(pkg.sections[0].get("y"), Some("2"));
    let e = err("config a b\nconfig c b\n");
    assert_eq!((e.line, e.message.as_str()), (2, "section of different type overwrites prior section with same name"));
}

#[test]
fn invalid_names_types_and_commands_are_errors_with_lines() {
    assert_eq!(err("config a b-c\n").message, "invalid character in name field");
    assert_eq!(err("config a b\noption o-p 1\n").line, 2);
    assert_eq!(err("config 'a b'\n").message, "invalid character in type field");
    assert_eq!(err("\n\nfoo bar\n").line, 3);
    assert_eq!(err("config a b c\n").message, "too many arguments");
    assert_eq!(err("option a b\n").message, "option/list command found before the first section");
    assert_eq!(err("config\n").message, "invalid command");
    assert_eq!(err("config").message, "config without name");
    assert_eq!(err("config a b\n option x 'abc\n").message, "EOF with unterminated '");
    // Types allow punctuation, names do not.
    assert_eq!(p("config a-b.c:d\n").sections[0].stype, "a-b.c:d");
}

#[test]
fn semicolon_quirks_follow_libuci() {
    // A `;` glued to an unquoted word ends the line; after a quote or a blank it separates commands.
    let pkg = p("config a; option x 1\nconfig a b ; option x 1\nconfig a 'c'; option y 2\n");
    assert_eq!(pkg.sections.len(), 3);
    assert!(pkg.sections[0].options.is_empty());
    assert_eq!(pkg.sections[1].get("x"), Some("1"));
    assert_eq!(pkg.sections[2].get("y"), Some("2"));
}

#[test]
fn crlf_files_read_like_lf_files() {
    let pkg = p("config a b\r\n option x 'foo'\r\n option y bar\r\n");
    assert_eq!(pkg.sections[0].get("x"), Some("foo"));
    assert_eq!(pkg.sections[0].get("y"), Some("bar"));
}

#[test]
fn abbreviated_commands_are_accepted() {
    let pkg = p("c a\no b c\nl d e\np t\n");
    assert_eq!(pkg.sections[0].get("b"), Some("c"));
    assert_eq!(pkg.sections[0].list("d"), vec!["e"]);
}

#[test]
fn nul_byte_is_refused() {
    assert_eq!(err("config a b\n\0\n").line, 2);
}

#[test]
fn quote_escapes_single_quotes_like_uci_export() {
    assert_eq!(quote("it's"), "'it'\\''s'");
    assert_eq!(p(&format!("config a b\n option x {}\n", quote("a'b''c\\"))).sections[0].get("x"), Some("a'b''c\\"));
}

const NETWORK: &str = "# keep me\nconfig interface 'lan'\n\toption proto 'static'   # why static\n\toption ipaddr '192.0.2.1'\n\n# wan below\nconfig interface 'wan'\n\toption proto 'dhcp'\n";

fn editor(text: &str) -> Editor {
    match Editor::new(text, "network") {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn set_option_rewrites_only_the_value_token() -> Result<(), UciError> {
    let mut ed = editor(NETWORK);
    assert!(ed.set_option("lan", "proto", "none")?);
    assert!(!ed.set_option("lan", "proto", "none")?);
    let out = ed.finish();
    assert_eq!(out, NETWORK.replace("'static'   # why", "'none'   # why"));
    Ok(())
}

#[test]
fn new_option_goes_after_the_last_line_of_its_section() -> Result<(), UciError> {
    let mut ed = editor(NETWORK);
    assert!(ed.set_option("lan", "mtu", "it's")?);
    let out = ed.finish();
    assert_eq!(out, NETWORK.replace("'192.0.2.1'\n", "'192.0.2.1'\n\toption mtu 'it'\\''s'\n"));
    Ok(())
}

#[test]
fn ensure_section_then_options_is_idempotent() -> Result<(), UciError> {
    let run = |text: &str| -> Result<String, UciError> {
        let mut ed = Editor::new(text, "network")?;
        ed.ensure_section("device", "muros_wan")?;
        ed.set_option("muros_wan", "type", "macvlan")?;
        ed.set_list("muros_wan", "ports", &["a", "b"])?;
        ed.set_option("@interface[0]", "proto", "static")?;
        Ok(ed.finish())
    };
    let once = run(NETWORK)?;
    let twice = run(&once)?;
    assert_eq!(once, twice);
    assert!(once.starts_with(NETWORK));
    let pkg = parse(&once, "network")?;
    let dev = pkg.section("muros_wan").expect("device");
    assert_eq!(dev.stype, "device");
    assert_eq!(dev.list("ports"), vec!["a", "b"]);
    Ok(())
}

/// What `ensure_section` + options add, `delete_section` takes back byte for byte; the
/// sections around it, comments and a CRLF file keep their bytes; a section that is not
/// there is no change.
#[test]
fn delete_section_takes_back_what_ensure_section_added() -> Result<(), UciError> {
    for base in [NETWORK.to_string(), NETWORK.replace('\n', "\r\n")] {
        let mut ed = Editor::new(&base, "firewall")?;
        ed.ensure_section("include", "muros_ha_srcnat")?;
        ed.set_option("muros_ha_srcnat", "path", "/etc/muros-ha/fw4-srcnat.nft")?;
        ed.set_option("muros_ha_srcnat", "chain", "srcnat")?;
        let added = ed.finish();
        assert_ne!(added, base);
        let mut ed = Editor::new(&added, "firewall")?;
        assert!(ed.delete_section("muros_ha_srcnat")?);
        assert_eq!(ed.text(), base);
        assert!(!ed.delete_section("muros_ha_srcnat")?, "gone already: no change");
    }
    let text = "config a x\n\toption k 1\n\n# keep me\nconfig b y\n\toption k 2\n\nconfig c z\n";
    let mut ed = editor(text);
    assert!(ed.delete_section("y")?);
    assert_eq!(ed.text(), "config a x\n\toption k 1\n\n# keep me\n\nconfig c z\n");
    Ok(())
}

#[test]
fn option_spread_over_statements_is_replaced_at_its_first_place() -> Result<(), UciError> {
    let text = "config a b\n\tlist x 1\n\toption y 2\n\tlist x 2\n# c\n";
    let mut ed = editor(text);
    assert!(ed.set_option("b", "x", "z")?);
    assert_eq!(ed.text(), "config a b\n\toption x 'z'\n\toption y 2\n# c\n");
    assert!(ed.delete_option("b", "x")?);
    assert!(!ed.delete_option("b", "x")?);
    assert_eq!(ed.finish(), "config a b\n\toption y 2\n# c\n");
    Ok(())
}

#[test]
fn editor_refuses_what_it_cannot_do_cleanly() {
    let mut ed = editor("config a 'b'; option x 1 ; option y 2\n");
    // The original line is untouched on failure.
    assert!(ed.set_list("b", "y", &["1"]).is_err());
    assert_eq!(ed.text(), "config a 'b'; option x 1 ; option y 2\n");
    // Rewriting one value token in such a line is fine.
    assert_eq!(ed.set_option("b", "x", "2"), Ok(true));
    assert!(ed.set_option("nope", "x", "1").is_err());
    assert!(ed.set_option("b", "bad-name", "1").is_err());
    assert!(ed.ensure_section("other", "b").is_err());
    assert!(Editor::new("config a b c\n", "t").is_err());
    // `b;` glued: libuci drops the rest of the line, so x does not exist and is appended.
    let mut ed = editor("config a b; option x 1\n");
    assert_eq!(ed.set_option("b", "x", "1"), Ok(true));
    assert_eq!(ed.finish(), "config a b; option x 1\n\toption x '1'\n");
}

#[test]
fn crlf_file_gets_crlf_lines() -> Result<(), UciError> {
    let text = "config a 'b'\r\n\toption x '1'\r\n";
    let mut ed = editor(text);
    ed.set_option("b", "y", "2")?;
    ed.ensure_section("a", "c")?;
    assert_eq!(ed.finish(), "config a 'b'\r\n\toption x '1'\r\n\toption y '2'\r\n\r\nconfig a 'c'\r\n");
    Ok(())
}

const DHCP: &str = "config dhcp 'lan'\n\toption interface 'lan'\n\tlist dhcp_option '42,192.0.2.10'   # our NTP box\n\t# gateway below\n\tlist dhcp_option '3,192.0.2.1'\n\toption start '100'\n";

#[test]
fn a_list_value_is_added_after_its_siblings_and_removed_alone() -> Result<(), UciError> {
    let mut ed = editor(DHCP);
    assert_eq!(ed.list_value_lines("lan", "dhcp_option")?, vec![3, 5]);
    assert!(ed.add_list_value("lan", "dhcp_option", "6,192.0.2.1")?);
    assert_eq!(ed.text(), DHCP.replace("'3,192.0.2.1'\n", "'3,192.0.2.1'\n\tlist dhcp_option '6,192.0.2.1'\n"));
    assert!(ed.remove_list_value("lan", "dhcp_option", "3,192.0.2.1")?);
    assert!(!ed.remove_list_value("lan", "dhcp_option", "3,192.0.2.1")?);
    // The other value's line (with its comment) and the comment above stay byte for byte.
    assert_eq!(ed.text(), DHCP.replace("\tlist dhcp_option '3,192.0.2.1'\n", "\tlist dhcp_option '6,192.0.2.1'\n"));
    assert_eq!(ed.package().sections[0].list("dhcp_option"), vec!["42,192.0.2.10", "6,192.0.2.1"]);
    // A value in a new list goes at the end of the section, indented like it.
    assert!(ed.add_list_value("lan", "ra_flags", "none")?);
    assert!(ed.finish().ends_with("\toption start '100'\n\tlist ra_flags 'none'\n"));
    Ok(())
}

#[test]
fn removing_the_last_value_removes_the_option_and_a_single_option_grows_into_a_list() -> Result<(), UciError> {
    let mut ed = editor("config dhcp 'lan'\n\tlist dhcp_option '3,x'\n\toption force '1'\n");
    assert!(ed.remove_list_value("lan", "dhcp_option", "3,x")?);
    assert_eq!(ed.text(), "config dhcp 'lan'\n\toption force '1'\n");
    assert!(ed.package().sections[0].option("dhcp_option").is_none());
    let mut ed = editor("config dhcp 'lan'\n\toption dhcp_option '42,y'\n");
    assert!(ed.add_list_value("lan", "dhcp_option", "3,x")?);
    assert_eq!(ed.package().sections[0].list("dhcp_option"), vec!["42,y", "3,x"]);
    // A list value sharing its line with another statement is not ours to cut out.
    let mut ed = editor("config dhcp 'lan'\n\tlist dhcp_option '3,x'; list dhcp_option '6,x'\n");
    assert!(ed.remove_list_value("lan", "dhcp_option", "3,x").is_err());
    assert_eq!(ed.text(), "config dhcp 'lan'\n\tlist dhcp_option '3,x'; list dhcp_option '6,x'\n");
    Ok(())
}
