//! `scripts/size-report.sh`: the budget is printed, the committed ceiling is enforced.
//! Uses stand-in "binaries" (stripped host programs of known size) in a temporary dist/.

use std::path::{Path, PathBuf};
use std::process::Command;

mod fs_support;
use fs_support::TempDir;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/size-report.sh");

/// A stripped ELF of the host, its size, or None when none is found.
fn stripped_host_program(min_len: u64, max_len: u64) -> Option<(PathBuf, u64)> {
    ["/bin/true", "/usr/bin/true", "/bin/ls", "/usr/bin/ls", "/bin/bash", "/usr/bin/bash", "/usr/bin/perl"].iter().find_map(|p| {
        let path = Path::new(p).canonicalize().ok()?;
        let len = std::fs::metadata(&path).ok()?.len();
        let out = Command::new("file").arg(&path).output().ok()?;
        (len >= min_len && len <= max_len && String::from_utf8_lossy(&out.stdout).contains(", stripped")).then_some((path, len))
    })
}

struct Run {
    code: i32,
    out: String,
}

fn report(dist: &Path, ceilings: &str, args: &[&str]) -> Run {
    let file = dist.join("ceilings");
    std::fs::write(&file, ceilings).unwrap();
    let out = Command::new("sh").arg(SCRIPT).args(args).env("DIST", dist).env("CEILINGS", &file).output().expect("run size-report.sh");
    Run { code: out.status.code().unwrap_or(-1), out: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)) }
}

fn place(dist: &Path, triple: &str, program: &Path) {
    std::fs::create_dir_all(dist.join(triple)).unwrap();
    std::fs::copy(program, dist.join(triple).join("muros-ha")).unwrap();
}

#[test]
fn ceilings_fail_growth_and_the_budget_gap_is_printed() {
    if Command::new("file").arg("--version").output().is_err() {
        if std::env::var_os("CI").is_some() {
            panic!("`file` is needed (apt-get install file)");
        }
        eprintln!("skipped: `file` not installed");
        return;
    }
    // Small: under every budget. Big: over the 512 KiB aarch64 budget.
    let small = stripped_host_program(1, 512 * 1024);
    let big = stripped_host_program(512 * 1024 + 1, u64::MAX);
    let (Some((small, small_len)), Some((big, big_len))) = (small, big) else {
        if std::env::var_os("CI").is_some() {
            panic!("no stripped host programs of the needed sizes to stand in for binaries");
        }
        eprintln!("skipped: no stripped host programs of the needed sizes");
        return;
    };
    let tmp = TempDir::new();
    let dist = tmp.0.as_path();

    // Under budget and under its ceiling: ok in both modes.
    place(dist, "armv7-unknown-linux-musleabihf", &small);
    let fine = format!("# comment\narmv7-unknown-linux-musleabihf {}\n", small_len + 10);
    let r = report(dist, &fine, &[]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.contains("armv7-unknown-linux-musleabihf") && r.out.contains(" ok "), "{}", r.out);

    // One byte over its ceiling: GREW, failing in both modes.
    let tight = format!("armv7-unknown-linux-musleabihf {}\n", small_len - 1);
    for args in [&[][..], &["--ratchet"][..]] {
        let r = report(dist, &tight, args);
        assert_eq!(r.code, 1, "{:?}: {}", args, r.out);
        assert!(r.out.contains("GREW(1)"), "{}", r.out);
    }

    // Over the budget but under its ceiling: the strict mode fails, the ratchet passes
    // and still prints the gap.
    place(dist, "aarch64-unknown-linux-musl", &big);
    let both = format!("{}aarch64-unknown-linux-musl {}\n", fine, big_len);
    let strict = report(dist, &both, &[]);
    assert_eq!(strict.code, 1, "{}", strict.out);
    let ratchet = report(dist, &both, &["--ratchet"]);
    assert_eq!(ratchet.code, 0, "{}", ratchet.out);
    let over_kb = (big_len - 512 * 1024).div_ceil(1024);
    assert!(ratchet.out.contains(&format!("OVER BUDGET (by): aarch64-unknown-linux-musl:{}KB", over_kb)), "{}", ratchet.out);
    assert!(ratchet.out.contains("over-budget"), "{}", ratchet.out);

    // An unstripped binary is a build mistake in every mode.
    let unstripped = env!("CARGO_BIN_EXE_muros-ha");
    if !String::from_utf8_lossy(&Command::new("file").arg(unstripped).output().unwrap().stdout).contains(", stripped") {
        place(dist, "aarch64-unknown-linux-musl", Path::new(unstripped));
        let r = report(dist, &format!("{}aarch64-unknown-linux-musl 999999999\n", fine), &["--ratchet"]);
        assert_eq!(r.code, 1, "{}", r.out);
        assert!(r.out.contains("UNSTRIPPED"), "{}", r.out);
    }

    // Bad usage is refused, not ignored.
    assert_eq!(report(dist, &fine, &["--report-only"]).code, 2);
}
