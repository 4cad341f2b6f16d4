//! The notify hook's own cost: what keepalived waits for before the plan's first step.
//!
//! ```sh
//! cargo build --release && cargo run --release --example notify_bench [-- N]
//! MUROS_HA_BIN=/path/to/other/muros-ha cargo run --release --example notify_bench
//! ```
//!
//! Runs `muros-ha notify GROUP muros_ha MASTER 150` N times (default 50) on a scratch
//! root whose last good plan inputs say "HA disabled, no WAN, no services", with PATH
//! pointing nowhere: what is left is our own work (arguments, config, desired state,
//! lock, current state, history). Prints wall time (p50/p99/max) and the CPU time the
//! hook used (user + system, from getrusage of the reaped children). Asserts nothing:
//! the machine is shared and noisy, and under qemu everything is slower (this replaced
//! a 10 ms assertion that failed there).

use nix::sys::resource::{getrusage, UsageWho};
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "bench_support/mod.rs"]
mod bench_support;
use bench_support::percentile;

fn children_cpu() -> Duration {
    let u = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    tv(u.user_time()) + tv(u.system_time())
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(50);
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var("MUROS_HA_BIN").map(PathBuf::from).unwrap_or_else(|_| repo.join("target/release/muros-ha"));
    assert!(bin.is_file(), "build first: cargo build --release (or set MUROS_HA_BIN)");
    let root = std::env::temp_dir().join(format!("muros-notify-bench-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let state = root.join("var/run/muros-ha");
    fs::create_dir_all(&state).expect("scratch root");
    let inputs = r#"{"enabled":false,"wan":null,"services":[],"vips":[]}"#;
    fs::write(state.join("plan-inputs.json"), inputs).expect("plan inputs");

    let mut wall = Vec::with_capacity(n);
    let cpu0 = children_cpu();
    for i in 0..n {
        // Alternate the role so every run is a real transition, not a repeat.
        let role = if i % 2 == 0 { "MASTER" } else { "BACKUP" };
        let t0 = Instant::now();
        let status = Command::new(&bin)
            .args(["notify", "--root"])
            .arg(&root)
            .args(["GROUP", "muros_ha", role, "150"])
            .env("PATH", "/nonexistent")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run the hook");
        wall.push(t0.elapsed());
        assert!(status.success(), "notify failed: {status}");
    }
    let cpu = children_cpu() - cpu0;
    let _ = fs::remove_dir_all(&root);

    wall.sort();
    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1000.0);
    println!("| binary | runs | wall p50 ms | wall p99 ms | wall max ms | CPU ms per run |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} | {:.2} |",
        bin.display(),
        n,
        ms(percentile(&wall, 0.5)),
        ms(percentile(&wall, 0.99)),
        ms(*wall.last().unwrap_or(&Duration::ZERO)),
        cpu.as_secs_f64() * 1000.0 / n as f64
    );
}
