//! Differential test: our UCI reader against the real `uci` binary (libuci) on every file
//! in tests/uci_corpus/, and on seeded random mutations of them. Both must accept with
//! the same sections (type, name, generated anonymous name, options, values) or both
//! reject with the same reason.
//!
//! The binary is `../shared/openwrt-tools/bin/uci` beside the checkout. Without it the
//! tests skip with a message, except under CI=true where they fail.

mod uci_common;

use muros_ha::uci::{parse, Value};
use uci_common::{real_uci, RealRead};

const PACKAGE: &str = "corpus";

fn corpus() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/uci_corpus");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("dir entry").path();
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().expect("name").to_string_lossy().into_owned(), text)
        })
        .collect();
    files.sort();
    files
}

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

/// Small deterministic PRNG (xorshift64*), so failures replay from the printed seed.
pub struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Characters that matter to the grammar, plus some that do not.
const ALPHABET: &[char] =
    &['\'', '"', '\\', '#', ';', '\n', '\r', '\t', ' ', 'a', 'Z', '0', '_', '-', '.', '=', '@', 'é', '\u{b}', '\u{c}'];
const WORDS: &[&str] = &["config ", "option ", "list ", "package ", "c ", "o ", "l ", "\\\n", "'\\''", "''", "\"\""];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(5) {
            0 | 1 => chars.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
            2 => {
                if at < chars.len() {
                    chars.remove(at);
                }
            }
            3 => {
                for (k, c) in WORDS[rng.below(WORDS.len())].chars().enumerate() {
                    chars.insert(at + k, c);
                }
            }
            _ => {
                // Duplicate a run of text elsewhere (repeats sections and options).
                if !chars.is_empty() {
                    let from = rng.below(chars.len());
                    let len = rng.below(40).min(chars.len() - from);
                    let run: Vec<char> = chars[from..from + len].to_vec();
                    let to = rng.below(chars.len() + 1);
                    chars.splice(to..to, run);
                }
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn random_mutations_of_the_corpus_read_as_real_uci_reads_them() {
    let Some(uci) = real_uci() else { return };
    let seed: u64 = std::env::var("UCI_DIFF_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_0f_0c1);
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
