//! Property test: the UCI reader and editor take garbage without panicking, in bounded
//! time, and every edit the editor accepts does what it says and is idempotent.
//! Seeded (UCI_FUZZ_SEED, UCI_FUZZ_CASES) so any failure replays.

mod uci_common;

use std::time::{Duration, Instant};

use muros_ha::uci::{parse, Editor, Value};
use uci_common::{corpus, mutate, Rng};

/// Generous for a debug build on a loaded 2-core box; a real hang or blow-up is far slower.
const PER_CASE: Duration = Duration::from_millis(250);

fn seed() -> u64 {
    std::env::var("UCI_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xf022_5eed)
}
fn cases() -> usize {
    std::env::var("UCI_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000)
}

fn random_bytes(rng: &mut Rng) -> String {
    let len = rng.below(300);
    let bytes: Vec<u8> = (0..len)
        .map(|_| match rng.below(4) {
            // Bias towards the bytes the grammar cares about.
            0 => {
                let special = b"'\"\\#; \t\r\n";
                special[rng.below(special.len())]
            }
            1 => {
                let words = b"config option list package ";
                words[rng.below(words.len())]
            }
            _ => rng.next() as u8,
        })
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn reader_survives_random_bytes_and_corpus_mutations_quickly() {
    let files = corpus();
    let mut rng = Rng(seed() | 1);
    let (mut ok, mut rejected) = (0usize, 0usize);
    let mut slowest = Duration::ZERO;
    for case in 0..cases() {
        let text = if case % 2 == 0 {
            random_bytes(&mut rng)
        } else {
            let (_, base) = &files[rng.below(files.len())];
            let mut t = mutate(&mut rng, base);
            for _ in 0..rng.below(2) {
                t = mutate(&mut rng, &t);
            }
            t
        };
        let started = Instant::now();
        match parse(&text, "fuzz") {
            Ok(pkg) => {
                ok += 1;
                // Every section it returns is addressable the way uci addresses it.
                for i in 0..pkg.sections.len() {
                    let id = pkg.uci_id(i);
                    assert!(pkg.resolve(&id).is_some(), "case {case}: {id} does not resolve in {text:?}");
                    let _ = pkg.display_name(i);
                }
            }
            Err(e) => {
                rejected += 1;
                assert!(e.line >= 1 || text.is_empty(), "case {case}: error without a line: {e} for {text:?}");
                assert!(e.line <= text.lines().count().max(1) + 1, "case {case}: line out of range: {e}");
            }
        }
        let took = started.elapsed();
        slowest = slowest.max(took);
        assert!(took < PER_CASE, "case {case} took {took:?}: {text:?}");
    }
    println!("{ok} parsed, {rejected} rejected, slowest {slowest:?}");
    assert!(ok > 100 && rejected > 100, "generator too one-sided: {ok} ok, {rejected} rejected");
}

#[test]
fn a_huge_file_parses_in_linear_time() {
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!("config rule\n\toption name 'r{i}'\n\tlist proto tcp\n\tlist proto udp\n"));
    }
    text.push_str(&format!("config a b\n\toption long '{}'\n", "x".repeat(2_000_000)));
    let started = Instant::now();
    let pkg = parse(&text, "big").expect("parses");
    let took = started.elapsed();
    assert_eq!(pkg.sections.len(), 20_001);
    println!("{} bytes, {} sections parsed in {took:?}", text.len(), pkg.sections.len());
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

const NAMES: &[&str] = &["x", "proto", "ifname", "maintenance", "a", "b", "e1", "keep", "l1"];
const VALUES: &[&str] = &["1", "", "it's", "two words", "x\ny", "#;\\\"", "é", "'"];

#[test]
fn every_edit_the_editor_accepts_reads_back_as_intended_and_is_idempotent() {
    let files = corpus();
    let mut rng = Rng(seed().rotate_left(17) | 1);
    let (mut done, mut refused) = (0usize, 0usize);
    for case in 0..cases() / 10 {
        let (_, base) = &files[rng.below(files.len())];
        let text = if rng.below(2) == 0 { base.clone() } else { mutate(&mut rng, base) };
        let Ok(mut ed) = Editor::new(&text, "fuzz") else { continue };
        let n = ed.package().sections.len();
        let section = match rng.below(4) {
            0 if n > 0 => ed.package().uci_id(rng.below(n)),
            1 if n > 0 => ed.package().display_name(rng.below(n)),
            2 => {
                let name = ["muros_wan", "lan", "b", "cfg01b606"][rng.below(4)];
                match ed.ensure_section("device", name) {
                    Ok(_) => name.to_string(),
                    Err(_) => continue,
                }
            }
            _ => "nosuch".to_string(),
        };
        let name = NAMES[rng.below(NAMES.len())];
        let op = rng.below(3);
        let values: Vec<&str> = (0..rng.below(3)).map(|_| VALUES[rng.below(VALUES.len())]).collect();
        let apply = |ed: &mut Editor| match op {
            0 => ed.set_option(&section, name, values.first().copied().unwrap_or("")),
            1 => ed.set_list(&section, name, &values),
            _ => ed.delete_option(&section, name),
        };
        let started = Instant::now();
        let result = apply(&mut ed);
        assert!(started.elapsed() < PER_CASE, "case {case}: edit too slow");
        if let Err(e) = &result {
            if std::env::var("UCI_FUZZ_VERBOSE").is_ok() {
                println!("refused: {e}");
            }
            refused += 1;
            continue;
        }
        done += 1;
        let out = ed.text().to_string();
        let pkg = parse(&out, "fuzz").unwrap_or_else(|e| panic!("case {case}: edited text does not parse: {e}\n{out:?}"));
        let sec = &pkg.sections[pkg.resolve(&section).expect("section still there")];
        let got = sec.option(name).map(|o| o.value.clone());
        let want = match op {
            0 if !values.is_empty() && !values[0].is_empty() => Some(Value::Single(values[0].to_string())),
            1 if !values.is_empty() => Some(Value::List(values.iter().map(|v| v.to_string()).collect())),
            _ => None,
        };
        assert_eq!(got, want, "case {case}: op {op} {section}.{name}={values:?} on {text:?} gave {out:?}");
        // Same edit again: nothing to do, same bytes.
        assert_eq!(apply(&mut ed).ok(), Some(false), "case {case}: second edit not a no-op on {out:?}");
        assert_eq!(ed.text(), out);
    }
    println!("{done} edits applied, {refused} refused");
    assert!(done > refused, "editor refused too much: {done} applied, {refused} refused");
}
