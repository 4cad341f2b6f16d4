//! The shipped binary is built with `-Zfmt-debug=none` (scripts/cross-build.sh): there,
//! `{:?}` prints nothing at all. Messages must quote with `json::quoted` or use Display;
//! only test code may use Debug formatting. This scans the non-test code for it.

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

#[test]
fn no_debug_formatting_outside_tests() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    files.sort();
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut found = Vec::new();
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
        for (n, line) in code.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            if debug_specs(line) {
                found.push(format!("{}:{}: {}", f.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().display(), n + 1, trimmed));
            }
        }
    }
    assert!(found.is_empty(), "Debug formatting in code that ships (prints nothing with -Zfmt-debug=none):\n{}", found.join("\n"));
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
