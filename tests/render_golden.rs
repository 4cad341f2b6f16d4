//! Golden files: every case's rendered outputs must match `tests/golden/<case>/expected/`
//! byte for byte, and its file modes `expected/MODES`. A case with an `etc/config/dhcp`
//! also has that file as render edits it under `expected/` (not in MODES: an edit keeps
//! the file's own mode). Regenerate with
//! `UPDATE_GOLDEN=1 cargo test --test render_golden` and review the diff.

mod render_support;

use render_support::{cases, diff, Case};
use std::fs;
use std::path::{Path, PathBuf};

const MODES: &str = "MODES";

fn updating() -> bool {
    std::env::var("UPDATE_GOLDEN").map(|v| v == "1").unwrap_or(false)
}

/// `MODES`: one `<octal mode> /<router path>` line per output, in render order.
fn modes_listing(case: &Case) -> String {
    case.render()
        .iter()
        .map(|o| format!("{:04o} /{}\n", o.mode, case.relative(o).display()))
        .collect()
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn check_case(case: &Case) -> Vec<String> {
    let dir = case.expected_dir();
    let mut want: Vec<(PathBuf, String)> =
        case.render().iter().map(|o| (case.relative(o), o.contents.clone())).collect();
    // Edits of the router's own files (dhcp): the whole file as render leaves it.
    want.extend(case.edits());
    want.push((PathBuf::from(MODES), modes_listing(case)));

    if updating() {
        let _ = fs::remove_dir_all(&dir);
        for (rel, text) in &want {
            let p = dir.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, text).unwrap();
        }
        return Vec::new();
    }

    let mut problems = Vec::new();
    for (rel, text) in &want {
        let p = dir.join(rel);
        match fs::read_to_string(&p) {
            Ok(old) if old == *text => {}
            Ok(old) => problems.push(format!("{}: differs (- golden, + rendered)\n{}", p.display(), diff(&old, text))),
            Err(e) => problems.push(format!("{}: {} (run with UPDATE_GOLDEN=1 to create)", p.display(), e)),
        }
    }
    let wanted: Vec<&PathBuf> = want.iter().map(|(r, _)| r).collect();
    for stale in files_under(&dir) {
        if !wanted.contains(&&stale) {
            problems.push(format!("{}: golden file no longer rendered", dir.join(stale).display()));
        }
    }
    problems
}

#[test]
fn every_case_renders_exactly_its_golden_files() {
    let problems: Vec<String> = cases().iter().flat_map(check_case).collect();
    assert!(problems.is_empty(), "{} golden mismatch(es):\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn rendering_twice_gives_the_same_bytes() {
    for case in cases() {
        assert_eq!(case.render(), case.render(), "case {}", case.name);
        assert_eq!(case.edits(), case.edits(), "case {}", case.name);
    }
}

#[test]
fn every_case_has_golden_files_checked_in() {
    if updating() {
        return;
    }
    for case in cases() {
        let k = case.expected_file("/etc/keepalived/keepalived.conf");
        assert!(k.is_file(), "{} missing", k.display());
    }
}
