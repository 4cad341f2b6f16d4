//! Shared helpers of the failover integration tests: a throw-away router root whose
//! init scripts record their calls, and a runner for the real `muros-ha` binary.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "../fs_support/mod.rs"]
mod fs_support;
pub use fs_support::muros_bin;
/// The shared fixtures (`MUROS_SHARED`, as in tests/run-all.sh; else /work/shared).
pub fn shared() -> String {
    std::env::var("MUROS_SHARED").unwrap_or_else(|_| "/work/shared".to_string())
}
/// Real OpenWrt ubusd / ubus / uci built for Debian.
pub fn openwrt_tools() -> String {
    format!("{}/openwrt-tools/bin", shared())
}
/// ucode with its ubus module, from the LuCI stack.
pub fn ucode() -> String {
    format!("{}/openwrt-web/rootfs/bin/ucode", shared())
}
pub fn ucode_modules() -> String {
    format!("{}/openwrt-web/rootfs/usr/lib/ucode/*.so", shared())
}

/// A router root under /tmp, removed on drop.
pub struct TestRoot {
    pub dir: PathBuf,
    /// Every init script call: `<svc> <verb> begin <pid>` / `<svc> <verb> end`.
    pub init_log: PathBuf,
    /// Every `ip` call of the hook, one argv per line: the backup route must never
    /// reach the host's routing table (tests run as root, beside other labs).
    pub ip_log: PathBuf,
}

impl TestRoot {
    pub fn new(tag: &str) -> TestRoot {
        let dir = std::env::temp_dir().join(format!("muros-fo-{}-{}", tag, std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("etc/init.d")).unwrap();
        let init_log = dir.join("init.log");
        fs::write(&init_log, "").unwrap();
        let ip_log = dir.join("ip.log");
        let bin = dir.join("test-bin");
        fs::create_dir_all(&bin).unwrap();
        let ip = bin.join("ip");
        fs::write(&ip, format!("#!/bin/sh\necho \"$*\" >> '{}'\n", ip_log.display())).unwrap();
        fs::set_permissions(&ip, fs::Permissions::from_mode(0o755)).unwrap();
        TestRoot { dir, init_log, ip_log }
    }

    /// PATH for the hook: the recording `ip` first, then [`default_path`].
    pub fn path(&self) -> String {
        format!("{}:{}", self.dir.join("test-bin").display(), default_path())
    }

    pub fn ip_lines(&self) -> Vec<String> {
        fs::read_to_string(&self.ip_log).unwrap_or_default().lines().map(String::from).collect()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("var/run/muros-ha")
    }

    /// The plan inputs the hook falls back to when the UCI config does not validate
    /// (here: there is none), i.e. the last good config.
    pub fn set_inputs(&self, enabled: bool, wan: Option<&str>, services: &[&str]) {
        let v = serde_json::json!({
            "enabled": enabled,
            "wan": wan,
            "services": services,
            "vips": [],
        });
        fs::create_dir_all(self.state_dir()).unwrap();
        fs::write(self.state_dir().join("plan-inputs.json"), v.to_string()).unwrap();
    }

    /// `etc/init.d/<svc>`: records its calls; `start` runs `start_extra` (shell, written
    /// by the test itself) first; `running` answers from a flag file.
    pub fn add_service(&self, svc: &str, start_extra: &str) {
        let flag = self.dir.join(format!("running-{}", svc));
        let script = format!(
            "#!/bin/sh\n\
             echo \"{svc} $1 begin $$\" >> '{log}'\n\
             case \"$1\" in\n\
             start) {extra}\n touch '{flag}' ;;\n\
             stop) rm -f '{flag}' ;;\n\
             running) [ -e '{flag}' ]; rc=$?; echo \"{svc} running end\" >> '{log}'; exit $rc ;;\n\
             esac\n\
             echo \"{svc} $1 end\" >> '{log}'\n",
            svc = svc,
            log = self.init_log.display(),
            extra = if start_extra.is_empty() { ":" } else { start_extra },
            flag = flag.display(),
        );
        let p = self.dir.join("etc/init.d").join(svc);
        fs::write(&p, script).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn init_lines(&self) -> Vec<String> {
        fs::read_to_string(&self.init_log).unwrap_or_default().lines().map(String::from).collect()
    }

    pub fn history(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(self.state_dir().join("history.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn current(&self) -> serde_json::Value {
        serde_json::from_slice(&fs::read(self.state_dir().join("current")).unwrap()).unwrap()
    }

    pub fn desired_seq(&self) -> u64 {
        fs::read(self.state_dir().join("desired"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["seq"].as_u64())
            .unwrap_or(0)
    }

    /// `muros-ha notify --root <dir> <args…>` with `path` as PATH.
    pub fn notify_cmd(&self, args: &[&str], path: &str) -> Command {
        let mut c = Command::new(muros_bin());
        c.arg("notify").arg("--root").arg(&self.dir).args(args).env("PATH", path);
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    pub fn notify(&self, args: &[&str]) -> Output {
        self.notify_cmd(args, &self.path()).output().unwrap()
    }
}

impl Drop for TestRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// PATH with the real OpenWrt ubus CLI first.
pub fn default_path() -> String {
    format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", openwrt_tools())
}

/// Poll `cond` every 10 ms for at most `limit`.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Names of the files a process holds open (`/proc/<pid>/fd/*` link targets).
pub fn open_files(pid: u32) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(d) = fs::read_dir(format!("/proc/{}/fd", pid)) {
        for e in d.flatten() {
            if let Ok(t) = fs::read_link(e.path()) {
                out.push(t.display().to_string());
            }
        }
    }
    out
}

pub fn kill(pid: u32) {
    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
}

/// Root and namespaces available? Under CI=true a missing capability fails the test.
pub fn require_root(what: &str) -> bool {
    let is_root = fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let tools = Path::new(&openwrt_tools()).join("ubusd").exists() && Path::new(&ucode()).exists();
    if is_root && tools {
        return true;
    }
    let why = format!("{} needs root and {} (root={}, tools={})", what, shared(), is_root, tools);
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{}", why);
    }
    eprintln!("SKIP: {}", why);
    false
}
