//! The failover engine proven on the two-router lab (tests/lab): real keepalived,
//! conntrackd, nftables, dnsmasq, ubusd and udhcpc in network namespaces, configs from
//! `muros-ha render`, transitions through `muros-ha notify`.
//!
//! Needs root (network namespaces). Without root it is skipped with a reason, except
//! when `CI=true`, where it fails. `MUROS_LAB_CASES` overrides the fault cases run.

use std::path::Path;
use std::process::Command;

fn may_run(test: &str) -> bool {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    if root {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root for network namespaces, and CI=true");
    }
    eprintln!("skipping {test}: needs root (network namespaces)");
    false
}

fn run_faults(cases: &str, version: &str, advert: &str) -> (bool, String) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(repo.join("tests/lab/faults.sh"))
        .env("CASES", std::env::var("MUROS_LAB_CASES").unwrap_or_else(|_| cases.to_string()))
        .env("HOOK", "muros")
        .env("CONFIGS", "render")
        .env("MUROS_HA", env!("CARGO_BIN_EXE_muros-ha"))
        .env("VRRP_VERSION", version)
        .env("ADVERT", advert)
        .output()
        .expect("run tests/lab/faults.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn master_power_cut_and_link_faults_keep_the_tcp_flow_and_the_wan_address_vrrp3() {
    if !may_run("lab vrrp3") {
        return;
    }
    let (ok, text) = run_faults("1 2 4 5 6 7", "3", "0.1");
    println!("{text}");
    assert!(ok, "fault matrix failed:\n{text}");
    assert!(text.contains(" 0 failed"), "summary line missing:\n{text}");
    assert!(!text.contains("FAIL "), "{text}");
}
