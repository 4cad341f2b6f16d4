//! The toolchain and the crates are what the repository says they are: one stable
//! release for host builds (rust-toolchain.toml, and `rust-version` says the same), one
//! dated nightly for the router builds (scripts/toolchain.env), the product card's
//! crates in the dependency tree, and no allocator of our own in the binary.

use std::path::Path;
use std::process::Command;

const TOP: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(TOP).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The value of `key = "value"` (TOML) or `KEY=value` (shell) on its own line.
fn setting(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix(key)?.trim_start();
        let rest = rest.strip_prefix('=')?.trim();
        Some(rest.trim_matches('"').to_string())
    })
}

#[test]
fn rust_version_is_the_pinned_stable_release_and_the_nightly_is_dated() {
    let channel = setting(&read("rust-toolchain.toml"), "channel").expect("channel in rust-toolchain.toml");
    assert!(channel.split('.').count() == 3 && channel.split('.').all(|p| p.parse::<u32>().is_ok()), "channel {channel:?} is not a release number");
    let rust_version = setting(&read("Cargo.toml"), "rust-version").expect("rust-version in Cargo.toml");
    // rust-version may drop the patch level; it must name the release CI builds with.
    assert!(channel == rust_version || channel.starts_with(&format!("{rust_version}.")), "rust-version {rust_version} but CI builds with {channel}");

    let env = read("scripts/toolchain.env");
    let nightly = setting(&env, "NIGHTLY").expect("NIGHTLY in scripts/toolchain.env");
    let date = nightly.strip_prefix("nightly-").unwrap_or_else(|| panic!("NIGHTLY={nightly} is not a dated nightly"));
    let parts: Vec<&str> = date.split('-').collect();
    assert!(parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()), "NIGHTLY={nightly} is not nightly-YYYY-MM-DD");
    for key in ["ZIGLANG", "ZIGBUILD"] {
        let v = setting(&env, key).unwrap_or_else(|| panic!("{key} missing from scripts/toolchain.env"));
        assert!(v.split('.').all(|p| p.parse::<u32>().is_ok()), "{key}={v} is not an exact version");
    }
    // The scripts read the pins; none names a toolchain of its own.
    for script in ["scripts/cross-build.sh", "scripts/ci-setup.sh", "scripts/size-by-crate.sh"] {
        let text = read(script);
        assert!(text.contains("toolchain.env"), "{script} does not read scripts/toolchain.env");
        assert!(!text.contains("NIGHTLY:-nightly}"), "{script} falls back to an unpinned nightly");
    }
}

#[test]
fn the_product_cards_crates_are_in_the_dependency_tree() {
    let out = Command::new(env!("CARGO")).args(["tree", "-e", "normal", "--prefix", "none", "--offline", "--manifest-path"]).arg(Path::new(TOP).join("Cargo.toml")).output().expect("cargo tree");
    assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    for krate in ["serde", "serde_json", "argh", "signal-hook", "heapless", "syslog", "log", "nix"] {
        assert!(names.contains(&krate), "{krate} is not a dependency:\n{tree}");
    }
}

#[test]
fn the_binary_defines_no_allocator_of_its_own() {
    let nm = Command::new("nm").args(["--defined-only", "--extern-only"]).arg(env!("CARGO_BIN_EXE_muros-ha")).output();
    let Ok(nm) = nm else {
        assert!(std::env::var_os("CI").is_none(), "nm (binutils) is needed in CI");
        eprintln!("skipped: nm not installed");
        return;
    };
    assert!(nm.status.success(), "nm: {}", String::from_utf8_lossy(&nm.stderr));
    let defined = String::from_utf8_lossy(&nm.stdout);
    // The host build links libc dynamically: a malloc defined in the binary is ours.
    for sym in ["malloc", "free", "calloc", "realloc", "posix_memalign", "aligned_alloc"] {
        assert!(!defined.lines().any(|l| l.split_whitespace().last() == Some(sym)), "the binary defines {sym}");
    }
}
