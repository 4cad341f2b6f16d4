//! Shared helpers for the tests that run the real `uci` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use muros_ha::uci::Value;

/// A section as real uci reports it (from `export` and `-X show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealSection {
    pub stype: String,
    pub name: Option<String>,
    /// The name `uci -X show` prints (generated `cfgNNHHHH` for anonymous sections).
    pub id: String,
    pub options: Vec<(String, Value)>,
}

#[derive(Debug)]
pub enum RealRead {
    Accepted(Vec<RealSection>),
    Rejected { reason: String, line: usize },
}

/// The real uci binary plus a private scratch directory, removed on drop.
pub struct Uci {
    pub bin: PathBuf,
    pub dir: PathBuf,
}

impl Drop for Uci {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The real uci, or None (with a printed reason) when it is missing outside CI.
pub fn real_uci() -> Option<Uci> {
    // `shared/` sits beside the checkout (CI, /work/main); git worktrees one level deeper
    // also find it; UCI_BIN overrides both.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("UCI_BIN").map(PathBuf::from),
        Some(manifest.join("../shared/openwrt-tools/bin/uci")),
        Some(manifest.join("../../shared/openwrt-tools/bin/uci")),
    ];
    let found = candidates.iter().flatten().find(|p| p.exists()).cloned();
    let Some(bin) = found else {
        let bin = manifest.join("../shared/openwrt-tools/bin/uci");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("real uci binary missing at {} (required when CI=true)", bin.display());
        }
        eprintln!("SKIP: real uci binary missing at {}", bin.display());
        return None;
    };
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("muros-uci-test-{}-{}", std::process::id(), n));
    for sub in ["config", "save", "override"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    Some(Uci { bin, dir })
}

impl Uci {
    pub fn config_dir(&self) -> PathBuf {
        self.dir.join("config")
    }

    /// Run uci hermetically (own config, save and override directories).
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let c = self.dir.join("config");
        let t = self.dir.join("save");
        let o = self.dir.join("override");
        Command::new(&self.bin)
            .arg("-c")
            .arg(&c)
            .arg("-t")
            .arg(&t)
            .arg("-C")
            .arg(&o)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.bin.display()))
    }

    /// Write `text` as package `package` and read it back through real uci.
    pub fn read(&self, package: &str, text: &str) -> RealRead {
        std::fs::write(self.dir.join("config").join(package), text).expect("write config");
        let _ = std::fs::remove_file(self.dir.join("save").join(package));
        self.current(package)
    }

    /// The package as real uci sees it now (file plus any uncommitted changes).
    pub fn current(&self, package: &str) -> RealRead {
        let export = self.run(&["export", package]);
        let stderr = String::from_utf8_lossy(&export.stderr).into_owned();
        if !export.status.success() {
            return parse_error(&stderr).unwrap_or_else(|| panic!("uci failed without a parse error: {stderr}"));
        }
        let out = String::from_utf8(export.stdout).expect("uci export is UTF-8 for UTF-8 input");
        let mut sections = decode_export(&out).unwrap_or_else(|e| panic!("cannot decode uci export ({e}):\n{out}"));
        let show = self.run(&["-X", "show", package]);
        assert!(show.status.success(), "uci show failed: {}", String::from_utf8_lossy(&show.stderr));
        let ids = section_ids(&String::from_utf8_lossy(&show.stdout), package);
        assert_eq!(ids.len(), sections.len(), "uci show lists other sections than export");
        for (s, id) in sections.iter_mut().zip(ids) {
            s.id = id;
        }
        RealRead::Accepted(sections)
    }
}

/// "uci: Parse error (REASON) at line N, byte B"
fn parse_error(stderr: &str) -> Option<RealRead> {
    let rest = &stderr[stderr.find("Parse error (")? + "Parse error (".len()..];
    let close = rest.find(") at line ")?;
    let reason = rest[..close].to_string();
    let line = rest[close + ") at line ".len()..].split(',').next()?.trim().parse().ok()?;
    Some(RealRead::Rejected { reason, line })
}

/// Section names from `uci -X show PKG`: lines `PKG.ID=TYPE` (one dot before the `=`).
fn section_ids(show: &str, package: &str) -> Vec<String> {
    let prefix = format!("{package}.");
    show.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (key, _) = rest.split_once('=')?;
            (!key.contains('.')).then(|| key.to_string())
        })
        .collect()
}

/// Read a `'...'` value as uci_escape writes it: `'` inside becomes `'\''`; newlines are literal.
fn read_quoted(s: &str, i: &mut usize) -> Result<String, String> {
    let b = s.as_bytes();
    if b.get(*i) != Some(&b'\'') {
        return Err(format!("expected a quote at byte {i}"));
    }
    *i += 1;
    let mut out = String::new();
    loop {
        let close = s[*i..].find('\'').ok_or("unterminated quote")? + *i;
        out.push_str(&s[*i..close]);
        *i = close + 1;
        if s[*i..].starts_with("\\''") {
            out.push('\'');
            *i += 3;
        } else {
            return Ok(out);
        }
    }
}

/// Decode `uci export` output (canonical form) independently of the reader under test.
pub fn decode_export(s: &str) -> Result<Vec<RealSection>, String> {
    let mut sections: Vec<RealSection> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let line_end = s[i..].find('\n').map(|e| e + i).unwrap_or(s.len());
        let line = &s[i..line_end];
        if line.is_empty() || line.starts_with("package ") {
            i = line_end + 1;
        } else if let Some(rest) = line.strip_prefix("config ") {
            let (stype, name) = match rest.split_once(' ') {
                Some((t, n)) => (t, Some(n.trim_matches('\'').to_string())),
                None => (rest, None),
            };
            sections.push(RealSection { stype: stype.replace("'\\''", "'"), name, id: String::new(), options: Vec::new() });
            i = line_end + 1;
        } else {
            let (list, rest) = if let Some(r) = line.strip_prefix("\toption ") {
                (false, r)
            } else if let Some(r) = line.strip_prefix("\tlist ") {
                (true, r)
            } else {
                return Err(format!("unexpected line {line:?}"));
            };
            let name = rest.split(' ').next().unwrap_or_default().to_string();
            let mut j = i + (line.len() - rest.len()) + name.len() + 1;
            let value = read_quoted(s, &mut j)?;
            if s.as_bytes().get(j) != Some(&b'\n') {
                return Err(format!("no newline after value at byte {j}"));
            }
            i = j + 1;
            let sec = sections.last_mut().ok_or("option before section")?;
            match sec.options.iter_mut().find(|(n, _)| *n == name) {
                Some((_, Value::List(items))) if list => items.push(value),
                _ if list => sec.options.push((name, Value::List(vec![value]))),
                _ => sec.options.push((name, Value::Single(value))),
            }
        }
    }
    Ok(sections)
}

/// Every corpus file as (file name, text), sorted by name.
pub fn corpus() -> Vec<(String, String)> {
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

/// Small deterministic PRNG (xorshift64*), so failures replay from the printed seed.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Characters that matter to the grammar, plus some that do not.
const ALPHABET: &[char] =
    &['\'', '"', '\\', '#', ';', '\n', '\r', '\t', ' ', 'a', 'Z', '0', '_', '-', '.', '=', '@', 'é', '\u{b}', '\u{c}'];
const WORDS: &[&str] = &["config ", "option ", "list ", "package ", "c ", "o ", "l ", "\\\n", "'\\''", "''", "\"\""];

pub fn mutate(rng: &mut Rng, text: &str) -> String {
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

