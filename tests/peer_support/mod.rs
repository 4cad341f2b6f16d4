//! A lab for the peer link: two network namespaces joined by a veth pair named `eth2`
//! (198.18.0.1/30 ↔ 198.18.0.2/30, the sync link of examples/router-a and router-b),
//! a root directory and a real ubusd per router, `muros-ha daemon` run inside the
//! namespaces. Everything is torn down in `Drop` (PIDs killed one by one, namespaces
//! deleted), also when an assertion fails.
#![allow(dead_code)]

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../fs_support/mod.rs"]
mod fs_support;
pub mod fake_peer;
pub mod proxy;
use fs_support::copy_tree;

pub use fs_support::muros_bin;
pub const A_IP: &str = "198.18.0.1";
pub const B_IP: &str = "198.18.0.2";

fn tools() -> Option<PathBuf> {
    fs_support::openwrt_tools()
}

/// Root, `ip`, and ubusd are needed; CI must have them, elsewhere the test is skipped.
pub fn prerequisites() -> Option<PathBuf> {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let missing = if !nix::unistd::Uid::effective().is_root() {
        Some("needs root (network namespaces)".to_string())
    } else if Command::new("ip").arg("-V").output().is_err() {
        Some("iproute2 `ip` not found".to_string())
    } else if tools().is_none() {
        Some("openwrt-tools (ubusd, ubus) not found beside the checkout".to_string())
    } else {
        None
    };
    if let Some(why) = missing {
        assert!(!ci, "peer-link lab cannot run under CI: {}", why);
        eprintln!("SKIP: {}", why);
        return None;
    }
    tools()
}

pub fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{:?}: {}", args, e));
    assert!(out.status.success(), "{:?} failed: {}", args, String::from_utf8_lossy(&out.stderr));
}


pub struct Router {
    pub ns: String,
    pub root: PathBuf,
    /// The daemon's binary when not [`muros_bin`] (another release, for interop).
    pub bin: Option<PathBuf>,
    tools: PathBuf,
    ubusd: Option<Child>,
    daemon: Option<Child>,
}

impl Router {
    pub fn sock(&self) -> PathBuf {
        self.root.join("var/run/ubus/ubus.sock")
    }
    pub fn config(&self, pkg: &str) -> PathBuf {
        self.root.join("etc/config").join(pkg)
    }
    pub fn start(&mut self) {
        let child = Command::new(self.tools.join("bin/ubusd")).arg("-s").arg(self.sock()).stdin(Stdio::null()).spawn().unwrap();
        self.ubusd = Some(child);
        let t0 = Instant::now();
        while !self.sock().exists() && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = fs::File::create(self.root.join("daemon.log")).unwrap();
        // `ip netns exec` execs the daemon, so the child PID is the daemon's.
        self.daemon = Some(
            Command::new("ip")
                .args(["netns", "exec", &self.ns])
                .arg(self.bin.as_deref().unwrap_or(Path::new(muros_bin())))
                .args(["daemon", "--root", self.root.to_str().unwrap(), "--no-verify", "--no-converge", "--hook", "/usr/sbin/muros-ha"])
                .env("MUROS_HA_LOG", "stderr")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        assert!(self.wait(Duration::from_secs(10), |r| r.ubus(&["list", "muros_ha"]).0 == 0), "daemon in {} did not register muros_ha; log:\n{}", self.ns, self.log());
    }
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("daemon.log")).unwrap_or_default()
    }
    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(|c| c.id())
    }
    pub fn daemon_alive(&mut self) -> bool {
        self.daemon.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }
    pub fn vm_rss_kb(&self) -> u64 {
        let s = fs::read_to_string(format!("/proc/{}/status", self.daemon_pid().unwrap_or(0))).unwrap_or_default();
        s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
    }
    pub fn ubus(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(self.tools.join("bin/ubus")).arg("-s").arg(self.sock()).args(["-t", "5"]).args(args).output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
    /// `ubus listen` for `secs` seconds (it flushes when it ends by itself).
    pub fn listen(&self, events: &[&str], secs: u32) -> Child {
        let child = Command::new(self.tools.join("bin/ubus")).arg("-s").arg(self.sock()).args(["-t", &secs.to_string(), "listen"]).args(events).stdout(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        child
    }
    pub fn status(&self) -> Value {
        let (code, out, err) = self.ubus(&["call", "muros_ha", "status"]);
        assert_eq!(code, 0, "status: {}", err);
        serde_json::from_str(&out).unwrap()
    }
    pub fn peer(&self) -> Value {
        self.status()["peer"].clone()
    }
    /// Poll `cond` every 50 ms until it holds or `limit` passes.
    pub fn wait(&self, limit: Duration, mut cond: impl FnMut(&Router) -> bool) -> bool {
        let t0 = Instant::now();
        loop {
            if cond(self) {
                return true;
            }
            if t0.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    pub fn local_key(&self) -> String {
        let k = self.peer()["local_key"].as_str().unwrap_or_default().to_string();
        assert_eq!(k.len(), 44, "local_key {:?}", k);
        k
    }
    /// Add or replace `option NAME 'VALUE'` in `config global`.
    pub fn set_global(&self, name: &str, value: &str) {
        let path = self.config("muros_ha");
        let text = fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        for l in text.lines() {
            if l.trim_start().starts_with(&format!("option {} ", name)) {
                continue;
            }
            out.push_str(l);
            out.push('\n');
            if l.starts_with("config global") {
                out.push_str(&format!("\toption {} '{}'\n", name, value));
            }
        }
        write_atomic(&path, &out);
    }
    /// Append a raw line (e.g. `list replicate_exclude '…'`) to `config global`.
    pub fn add_global_line(&self, line: &str) {
        let path = self.config("muros_ha");
        let text = fs::read_to_string(&path).unwrap();
        let out = text.replacen("config global 'global'\n", &format!("config global 'global'\n\t{}\n", line), 1);
        assert_ne!(out, text, "no global section");
        write_atomic(&path, &out);
    }
    /// Pretend keepalived made this node `state` (what the notify hook records).
    pub fn set_vrrp_state(&self, state: &str) {
        let body = format!("{{\"state\":\"{}\",\"time\":0,\"from\":null,\"reason\":\"test\",\"ok\":true,\"seq\":1}}", state);
        write_atomic(&self.root.join("var/run/muros-ha/current"), &body);
    }
}

/// One option of a router's UCI package as its file says now (`None`: absent).
pub fn uci_get(r: &Router, pkg: &str, section: &str, option: &str) -> Option<String> {
    let text = fs::read_to_string(r.config(pkg)).ok()?;
    let p = muros_ha::uci::parse(&text, pkg).ok()?;
    let i = p.resolve(section)?;
    p.sections[i].get(option).map(str::to_string)
}

/// Replace a file by rename, as uci commit does.
pub fn write_atomic(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension("lab-tmp");
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, path).unwrap();
}

impl Drop for Router {
    fn drop(&mut self) {
        for c in [self.daemon.take(), self.ubusd.take()].into_iter().flatten() {
            let mut c = c;
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub struct Lab {
    pub dir: PathBuf,
    pub a: Router,
    pub b: Router,
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Routers (daemons) first: a daemon must not outlive its namespace.
        let _ = self.a.daemon.take().map(|mut c| (c.kill(), c.wait()));
        let _ = self.b.daemon.take().map(|mut c| (c.kill(), c.wait()));
        for ns in [&self.a.ns, &self.b.ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        if std::env::var("KEEP_LAB").is_err() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Lab {
    /// Namespaces, veth and roots; daemons are not started.
    pub fn new(tag: &str) -> Option<Lab> {
        let tools = prerequisites()?;
        let id = format!("{}{}", tag, std::process::id());
        let dir = std::env::temp_dir().join(format!("muros-peer-{}", id));
        let _ = fs::remove_dir_all(&dir);
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mk = |name: &str, ns: String| {
            let root = dir.join(name);
            copy_tree(&here.join(format!("examples/router-{}", name)), &root);
            fs::create_dir_all(root.join("var/run/ubus")).unwrap();
            fs::create_dir_all(root.join("tmp")).unwrap();
            Router { ns, root, bin: None, tools: tools.clone(), ubusd: None, daemon: None }
        };
        let lab = Lab { a: mk("a", format!("mpa{}", id)), b: mk("b", format!("mpb{}", id)), dir: dir.clone() };
        sh(&["ip", "netns", "add", &lab.a.ns]);
        sh(&["ip", "netns", "add", &lab.b.ns]);
        sh(&["ip", "-n", &lab.a.ns, "link", "add", "eth2", "type", "veth", "peer", "name", "eth2", "netns", &lab.b.ns]);
        for (ns, ip) in [(&lab.a.ns, A_IP), (&lab.b.ns, B_IP)] {
            sh(&["ip", "-n", ns, "addr", "add", &format!("{}/30", ip), "dev", "eth2"]);
            sh(&["ip", "-n", ns, "link", "set", "eth2", "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        Some(lab)
    }

    /// Start both daemons and pin each one's key on the other: the pair dials up.
    pub fn start_paired(&mut self) {
        self.a.start();
        self.b.start();
        let (ka, kb) = (self.a.local_key(), self.b.local_key());
        self.a.set_global("peer_key", &kb);
        self.b.set_global("peer_key", &ka);
    }

    pub fn link(&self, up: bool) {
        sh(&["ip", "-n", &self.a.ns, "link", "set", "eth2", if up { "up" } else { "down" }]);
    }
}

/// Run `f` on a thread that has joined namespace `ns` (setns is per thread).
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/var/run/netns/{}", ns);
    std::thread::scope(|sc| {
        sc.spawn(move || {
            let fd = fs::File::open(&path).unwrap();
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}
