//! The daemon under measurement: `status` latency, memory, idle CPU.
//!
//! ```sh
//! cargo build --release && cargo run --release --example daemon_bench [-- N IDLE_SECS]
//! ```
//!
//! Starts a private real ubusd and `target/release/muros-ha daemon` (or `$MUROS_HA_BIN`) on a copy of
//! `examples/router-a`, then: N `status` calls with our client on one connection and
//! N/5 with the real `ubus call` CLI (p50/p99/max), the daemon's VmRSS/VmHWM, and the
//! CPU ticks it uses while idle for IDLE_SECS (default 60). Prints figures; asserts
//! nothing (the machine is shared and noisy).

use muros_ha::ubus::{Client, Table};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/fs_support/mod.rs"]
mod fs_support;
use fs_support::copy_tree;

#[path = "bench_support/mod.rs"]
mod bench_support;
use bench_support::percentile;

fn row(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
    println!("| {} | {} | {} | {} | {} |", name, v.len(), ms(percentile(&v, 0.5)), ms(percentile(&v, 0.99)), ms(*v.last().unwrap_or(&Duration::ZERO)));
}

fn proc_field(pid: u32, field: &str) -> String {
    fs::read_to_string(format!("/proc/{}/status", pid))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l[field.len()..].trim().to_string())
        .unwrap_or_default()
}

fn cpu_ticks(pid: u32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{}/stat", pid)).unwrap_or_default();
    let after = s.rsplit_once(") ").map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // fields 14 and 15 of stat (utime, stime) are 12 and 13 after the comm.
    f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0) + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
}

struct Kill(Vec<Child>, PathBuf);
impl Drop for Kill {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = fs::remove_dir_all(&self.1);
    }
}


fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let idle: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(60);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = std::env::var("MUROS_SHARED").map(PathBuf::from).unwrap_or_else(|_| repo.join("../shared"));
    let tools = shared.join("openwrt-tools/bin");
    // MUROS_HA_BIN: another build to measure (the shipped static binary, an older one).
    let bin = std::env::var("MUROS_HA_BIN").map(PathBuf::from).unwrap_or_else(|_| repo.join("target/release/muros-ha"));
    assert!(bin.is_file(), "build first: cargo build --release (or set MUROS_HA_BIN)");

    let dir = std::env::temp_dir().join(format!("muros-dbench-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    copy_tree(&repo.join("examples/router-a"), &dir.join("root"));
    fs::create_dir_all(dir.join("root/var/run/ubus")).unwrap();
    let sock = dir.join("root/var/run/ubus/ubus.sock");
    let mut guard = Kill(Vec::new(), dir.clone());
    guard.0.push(Command::new(tools.join("ubusd")).arg("-s").arg(&sock).spawn().unwrap());
    let t0 = Instant::now();
    while !sock.exists() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let daemon = Command::new(&bin)
        .args(["daemon", "--root", dir.join("root").to_str().unwrap(), "--no-verify", "--no-converge"])
        .env("MUROS_HA_LOG", "stderr")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = daemon.id();
    guard.0.push(daemon);
    let t_start = Instant::now();
    let mut client = loop {
        if let Ok(mut c) = Client::connect(&sock) {
            if c.call("muros_ha", "status", Table::new()).is_ok() {
                break c;
            }
        }
        assert!(t_start.elapsed() < Duration::from_secs(5), "daemon did not come up");
        std::thread::sleep(Duration::from_millis(10));
    };
    println!("daemon registered {} ms after start", t_start.elapsed().as_millis());
    let size = fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
    println!("binary: {} ({} bytes, host build)", bin.display(), size);
    println!("RSS after start: {}", proc_field(pid, "VmRSS:"));

    println!();
    println!("| `status` via | calls | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    let id = client.lookup_id("muros_ha").unwrap();
    let ours: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let _ = client.invoke(id, "status", Table::new());
            t.elapsed()
        })
        .collect();
    row("our client, one connection", ours);
    let cli: Vec<Duration> = (0..n / 5)
        .map(|_| {
            let t = Instant::now();
            let _ = Command::new(tools.join("ubus")).arg("-s").arg(&sock).args(["call", "muros_ha", "status"]).stdout(Stdio::null()).status();
            t.elapsed()
        })
        .collect();
    row("real `ubus call` CLI", cli);
    println!();
    println!("RSS after {} calls: {} (peak {})", n + n / 5, proc_field(pid, "VmRSS:"), proc_field(pid, "VmHWM:"));

    drop(client);
    let ticks0 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(idle));
    let ticks = cpu_ticks(pid).saturating_sub(ticks0);
    println!("idle {} s (BACKUP, no calls): {} CPU ticks ({:.4} % of one core)", idle, ticks, ticks as f64 / (idle as f64 * 100.0) * 100.0);
}
