//! Differential test: our UCI reader against the real `uci` binary (libuci) on every file
//! in tests/uci_corpus/, and on seeded random mutations of them. Both must accept with
//! the same sections (type, name, generated anonymous name, options, values) or both
//! reject with the same reason.
//!
//! The binary is `../shared/openwrt-tools/bin/uci` beside the checkout. Without it the
//! tests skip with a message, except under CI=true where they fail.

mod uci_common;

use muros_ha::uci::{parse, Value};
use uci_common::{corpus, mutate, real_uci, RealRead, Rng};

const PACKAGE: &str = "corpus";

/// Compare one text; returns a description of every difference.
fn compare(uci: &uci_common::Uci, label: &str, text: &str) -> Vec<String> {
    let mut diffs = Vec::new();
    let ours = parse(text, PACKAGE);
    match (uci.read(PACKAGE, text), ours) {
        (RealRead::Rejected { reason, line }, Err(e)) => {
            if !e.message.starts_with(&reason) {
                diffs.push(format!("{label}: uci says {reason:?}, we say {:?}", e.message));
            }
            // Our line is the first line of the statement; uci's counts newline-ended lines
            // read so far, which agrees for one-line statements that end with a newline.
            let one_line = !e.message.contains("spans lines");
            let has_newline = text.split_inclusive('\n').nth(e.line.saturating_sub(1)).is_some_and(|l| l.ends_with('\n'));
            if one_line && has_newline && e.line != line {
                diffs.push(format!("{label}: uci reports line {line}, we report {}", e.line));
            }
        }
        (RealRead::Rejected { reason, line }, Ok(_)) => {
            diffs.push(format!("{label}: uci rejects ({reason} at line {line}), we accept"))
        }
        (RealRead::Accepted(_), Err(e)) => diffs.push(format!("{label}: uci accepts, we reject: {e}")),
        (RealRead::Accepted(real), Ok(pkg)) => {
            if real.len() != pkg.sections.len() {
                diffs.push(format!("{label}: uci has {} sections, we have {}", real.len(), pkg.sections.len()));
            }
            for (i, (r, s)) in real.iter().zip(&pkg.sections).enumerate() {
                let ours_opts: Vec<(String, Value)> = s.options.iter().map(|o| (o.name.clone(), o.value.clone())).collect();
                if r.stype != s.stype || r.name != s.name || r.options != ours_opts {
                    diffs.push(format!("{label}: section {i} differs:\n  uci:  {r:?}\n  ours: {s:?}"));
                }
                if r.id != pkg.uci_id(i) {
                    diffs.push(format!("{label}: section {i} is {} in uci, {} for us", r.id, pkg.uci_id(i)));
                }
            }
        }
    }
    diffs
}

#[test]
fn corpus_reads_exactly_as_real_uci_reads_it() {
    let Some(uci) = real_uci() else { return };
    let files = corpus();
    assert!(files.len() >= 30, "corpus too small: {}", files.len());
    let mut diffs = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for (name, text) in &files {
        match parse(text, PACKAGE) {
            Ok(_) => accepted += 1,
            Err(_) => rejected += 1,
        }
        diffs.extend(compare(&uci, name, text));
    }
    assert!(diffs.is_empty(), "{} difference(s):\n{}", diffs.len(), diffs.join("\n"));
    // The corpus must exercise both outcomes, or the comparison proves little.
    assert!(accepted >= 15 && rejected >= 10, "accepted {accepted}, rejected {rejected}");
}

#[test]
fn random_mutations_of_the_corpus_read_as_real_uci_reads_them() {
    let Some(uci) = real_uci() else { return };
    let seed: u64 = std::env::var("UCI_DIFF_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_f0c1);
    let cases: usize = std::env::var("UCI_DIFF_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(400);
    // Long files make slow spawns and add nothing here.
    let files: Vec<(String, String)> = corpus().into_iter().filter(|(_, t)| t.len() < 4000).collect();
    let mut rng = Rng(seed | 1);
    let mut diffs = Vec::new();
    for case in 0..cases {
        let (name, text) = &files[rng.below(files.len())];
        let mutated = mutate(&mut rng, text);
        let found = compare(&uci, &format!("case {case} (seed {seed}, from {name}) text {mutated:?}"), &mutated);
        diffs.extend(found);
        if diffs.len() > 10 {
            break;
        }
    }
    assert!(diffs.is_empty(), "{} difference(s):\n{}", diffs.len(), diffs.join("\n"));
}
