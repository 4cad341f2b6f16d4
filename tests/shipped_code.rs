//! Rules for the code that ships (everything in `src/` outside test modules), kept by
//! scanning it:
//!
//! - No Debug formatting. The shipped binary is built with `-Zfmt-debug=none`
//!   (scripts/cross-build.sh): there, `{:?}` prints nothing at all. Messages quote with
//!   `crate::quoted` (JSON string literal, via serde_json) or use Display.
//! - Files are opened through `fsutil` (`open`, `read`, `read_to_string`, `write`,
//!   `create`), not std's `File::open`, `File::create`, `OpenOptions`, `fs::read*` or
//!   `fs::write`: std's open builds errors from strings, which links Unicode tables and
//!   escaping code (≈5 KB) into the binary.

use std::path::Path;

/// Files below `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `{:?}`, `{:#?}`, `{name:?}`, `{0:#?}`, `{:>8?}`... : a format spec ending in `?`.
fn debug_specs(line: &str) -> bool {
    let b = line.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        if c != b'?' || b.get(i + 1) != Some(&b'}') {
            return false;
        }
        // Back to the opening brace: the spec must contain a ':' and no space or quote.
        let spec: Vec<u8> = b[..i].iter().rev().take_while(|&&c| c != b'{').copied().collect();
        spec.contains(&b':') && !spec.iter().any(|&c| c == b' ' || c == b'"' || c == b'}')
    })
}

/// Each non-comment line of shipped code: (file, line number, text).
fn shipped_lines() -> Vec<(String, usize, String)> {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    files.sort();
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut out = Vec::new();
    for f in &files {
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        // The repository's convention: a file's unit tests are its last item,
        // `#[cfg(test)] mod tests`. Everything from there on is test code.
        let code = match text.find("#[cfg(test)]\nmod tests") {
            Some(i) => &text[..i],
            None => &text,
        };
        let name = f.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().display().to_string();
        for (n, line) in code.lines().enumerate() {
            let trimmed = line.trim_start();
            if !trimmed.starts_with("//") {
                out.push((name.clone(), n + 1, trimmed.to_string()));
            }
        }
    }
    out
}

#[test]
fn no_debug_formatting_outside_tests() {
    let found: Vec<String> = shipped_lines().into_iter().filter(|(_, _, l)| debug_specs(l)).map(|(f, n, l)| format!("{}:{}: {}", f, n, l)).collect();
    assert!(found.is_empty(), "Debug formatting in code that ships (prints nothing with -Zfmt-debug=none):\n{}", found.join("\n"));
}

/// std's ways of opening a file, as they are spelled in a line of code. (`fsutil::read(`
/// does not contain `fs::read(`.)
fn std_open(line: &str) -> bool {
    ["File::open(", "File::create(", "OpenOptions", "fs::read(", "fs::read_to_string(", "fs::write("].iter().any(|p| line.contains(p))
}

#[test]
fn files_are_opened_through_fsutil() {
    let found: Vec<String> = shipped_lines()
        .into_iter()
        .filter(|(_, _, l)| std_open(l))
        .map(|(f, n, l)| format!("{}:{}: {}", f, n, l))
        .collect();
    assert!(found.is_empty(), "std's file opening in code that ships (use crate::fsutil):\n{}", found.join("\n"));
}

#[test]
fn the_scanner_sees_each_spelling() {
    for yes in [r#"format!("{:?}", x)"#, r#""{:#?}""#, r#""{name:?}""#, r#""{0:?} and""#, r#"{:>8?}"#] {
        assert!(debug_specs(yes), "{}", yes);
    }
    for no in [r#"format!("{}", x)"#, r#""{:#x}""#, r#"x?}"#, r#"Some(x?)"#, r#"let a = b?}"#] {
        assert!(!debug_specs(no), "{}", no);
    }
}

#[test]
fn the_open_scanner_sees_std_and_lets_fsutil_pass() {
    for yes in ["let t = std::fs::read_to_string(&p)?;", "File::open(dir)", "OpenOptions::new().write(true)", "fs::write(&p, b)", "let b = fs::read(&path)?;"] {
        assert!(std_open(yes), "{}", yes);
    }
    for no in ["let t = crate::fsutil::read_to_string(&p)?;", "fsutil::read(&p)", "crate::fsutil::write(&p, b)", "fs::read_dir(d)", "fs::metadata(p)"] {
        assert!(!std_open(no), "{}", no);
    }
}
