//! Latency of calls through the real ubusd to an object served by our `Server`.
//!
//! ```sh
//! cargo run --release --example ubus_bench [-- N]     # N calls per column, default 1000
//! ```
//!
//! Starts a private ubusd (OPENWRT_TOOLS_DIR, default /work/shared/openwrt-tools), serves
//! `bench` from a thread, then times N calls each with: the real `ubus call` CLI (one
//! process per call: fork+exec+connect+lookup+invoke), our one-shot `ubus::call`
//! (connect+lookup+invoke), and our `Client` on one connection (invoke only).
//! Prints p50/p99. Not an assertion: numbers depend on the machine's load.

use muros_ha::ubus::{self, reply_json, Arg, ArgType, Client, Object, Server, Table, Value, Waker};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "bench_support/mod.rs"]
mod bench_support;
use bench_support::percentile;

fn time_n(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    let mut v: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let tools = std::env::var_os("OPENWRT_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/work/shared/openwrt-tools".into());
    let dir = std::env::temp_dir().join(format!("muros-ubus-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sock = dir.join("ubus.sock");
    let mut ubusd = Command::new(tools.join("bin/ubusd"))
        .arg("-s")
        .arg(&sock)
        .spawn()
        .expect("spawn ubusd");
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err()
        && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(10));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let waker = Arc::new(Waker::new().expect("waker"));
    let (stop2, waker2, sock2) = (stop.clone(), waker.clone(), sock.clone());
    let server = std::thread::spawn(move || {
        let mut s = Server::new(sock2, 0u64);
        s.add_object(Object::new("bench").method(
            "ping",
            &[Arg::optional("n", ArgType::Int32)],
            |calls: &mut u64, req| {
                *calls += 1;
                reply_json(json!({"pong": req.args.i64("n").unwrap_or(0), "calls": *calls}))
            },
        ))
        .expect("register");
        while !stop2.load(Ordering::SeqCst) {
            if s.poll(&[waker2.fd()], None).expect("poll").is_ready(0) {
                waker2.drain();
            }
        }
        s.state
    });
    let mut client = Client::connect(&sock).expect("connect");
    let start = Instant::now();
    while client.lookup(Some("bench")).is_err() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let id = client.lookup_id("bench").expect("bench registered");

    let cli = time_n(n, || {
        let ok = Command::new(tools.join("bin/ubus"))
            .arg("-s")
            .arg(&sock)
            .args(["call", "bench", "ping", r#"{"n":1}"#])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "ubus call failed");
    });
    let oneshot = time_n(n, || {
        ubus::call(&sock, "bench", "ping", &json!({"n": 1})).expect("one-shot call");
    });
    let persistent = time_n(n, || {
        client
            .invoke(id, "ping", Table::new().with("n", Value::Int32(1)))
            .expect("invoke");
    });

    stop.store(true, Ordering::SeqCst);
    waker.wake();
    let served = server.join().expect("server thread");
    let _ = ubusd.kill();
    let _ = ubusd.wait();
    let _ = std::fs::remove_dir_all(&dir);

    println!("{n} calls per row through the real ubusd to our server ({served} served)\n");
    println!("| caller | p50 | p99 | max |");
    println!("|---|---|---|---|");
    for (name, v) in [
        ("`ubus call` CLI (process per call)", &cli),
        ("ubus::call one-shot (connect+lookup+invoke)", &oneshot),
        ("Client::invoke on one connection", &persistent),
    ] {
        println!(
            "| {name} | {:.3} ms | {:.3} ms | {:.3} ms |",
            percentile(v, 0.5).as_secs_f64() * 1e3,
            percentile(v, 0.99).as_secs_f64() * 1e3,
            v.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
    }
}
