//! The `render` / `apply` pipeline: load → validate → render → verify → replace.
//!
//! Invariant: either every changed file is replaced, or none is. All candidates are
//! staged (written + fsynced beside their targets) and verified with the real tools
//! before the first rename; any failure discards the stage and leaves live files
//! byte-identical.

use crate::fsutil::{self, Staged};
use crate::model::{self, Config, ConfigError};
use crate::paths::Paths;
use crate::render::{self, OutputFile, RenderContext};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a verifier (`keepalived -t`, `nft -c`) may take before we give up on it.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Run `keepalived -t -f` (and `nft -c` when we can) on the candidates.
    pub verify: bool,
    /// Binary keepalived's notify line calls.
    pub hook_binary: String,
    /// Compute what would change, write nothing.
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default)]
pub struct DeployReport {
    /// Files whose bytes or mode changed (and were replaced unless dry-run).
    pub changed: Vec<PathBuf>,
    /// Files already current.
    pub unchanged: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

#[derive(Debug)]
pub enum DeployError {
    Invalid(Vec<ConfigError>),
    Verify { file: PathBuf, message: String },
    Io { path: PathBuf, error: std::io::Error },
}

impl fmt::Display for DeployError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeployError::Invalid(errs) => {
                write!(f, "configuration is invalid ({} error{})", errs.len(), if errs.len() == 1 { "" } else { "s" })?;
                for e in errs {
                    write!(f, "\n  {}", e)?;
                }
                Ok(())
            }
            DeployError::Verify { file, message } => write!(f, "{} failed verification: {}", file.display(), message),
            DeployError::Io { path, error } => write!(f, "{}: {}", path.display(), error),
        }
    }
}
impl std::error::Error for DeployError {}

/// Every file muros-ha owns for `cfg`, plus the sysupgrade lists (which merge with what
/// the admin already has in `/etc/sysupgrade.conf`).
pub fn desired_files(cfg: &Config, paths: &Paths, hook_binary: &str) -> Vec<OutputFile> {
    let ctx = RenderContext { paths, hook_binary };
    let mut files = render::render_all(cfg, &ctx);
    files.extend(sysupgrade_files(paths));
    files
}

/// Run the whole pipeline under `paths`.
pub fn apply(paths: &Paths, opts: &DeployOptions) -> Result<DeployReport, DeployError> {
    let sources = model::load_packages(paths).map_err(DeployError::Invalid)?;
    let cfg = model::validate(&sources).map_err(DeployError::Invalid)?;
    let mut report = DeployReport { warnings: sources.warnings.clone(), ..Default::default() };

    // keepalived splits its notify command on blanks: a root or hook path with one
    // would call the wrong program.
    for (what, p) in [("--root", paths.root().to_string_lossy().into_owned()), ("--hook", opts.hook_binary.clone())] {
        if p.chars().any(|c| c.is_whitespace() || c == '"' || c == '\'') {
            return Err(DeployError::Verify { file: PathBuf::from(p.clone()), message: format!("{} path must not contain blanks or quotes (keepalived splits its notify line on them)", what) });
        }
    }
    let files = desired_files(&cfg, paths, &opts.hook_binary);
    let mut staged: Vec<Staged> = Vec::new();
    let result = (|| {
        for f in &files {
            if fsutil::is_current(&f.path, f.contents.as_bytes(), f.mode) {
                report.unchanged.push(f.path.clone());
                continue;
            }
            report.changed.push(f.path.clone());
            if opts.dry_run {
                continue;
            }
            let s = fsutil::stage(&f.path, f.contents.as_bytes(), f.mode).map_err(|error| DeployError::Io { path: f.path.clone(), error })?;
            if opts.verify {
                let verdict = verify_candidate(paths, &f.path, &s.tmp, &cfg);
                staged.push(s);
                verdict?;
            } else {
                staged.push(s);
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        for s in staged {
            s.discard();
        }
        return Err(e);
    }
    let mut first_error = None;
    for s in staged {
        let target = s.target.clone();
        if first_error.is_some() {
            s.discard();
            continue;
        }
        if let Err(error) = s.commit() {
            first_error = Some(DeployError::Io { path: target, error });
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Check a staged candidate with the real tool for its kind, when that tool is here.
fn verify_candidate(paths: &Paths, target: &Path, tmp: &Path, cfg: &Config) -> Result<(), DeployError> {
    if target == paths.keepalived_conf() {
        if let Some(bin) = find_program("keepalived") {
            let mut cmd = Command::new(bin);
            cmd.arg("-t").arg("-f").arg(tmp);
            return run_verifier(cmd, cfg).map_err(|message| DeployError::Verify { file: target.to_path_buf(), message });
        }
    }
    // `nft -c` needs CAP_NET_ADMIN even to check; it never commits anything.
    if target == paths.firewall_snippet() && nix::unistd::geteuid().is_root() {
        if let Some(bin) = find_program("nft") {
            let wrapper = fsutil::temp_path(&tmp.with_extension("check"));
            let text = render::firewall::check_ruleset(tmp);
            std::fs::write(&wrapper, text).map_err(|error| DeployError::Io { path: wrapper.clone(), error })?;
            let mut cmd = Command::new(bin);
            cmd.arg("-c").arg("-f").arg(&wrapper);
            let verdict = run_verifier(cmd, cfg);
            let _ = std::fs::remove_file(&wrapper);
            return verdict.map_err(|message| DeployError::Verify { file: target.to_path_buf(), message });
        }
    }
    Ok(())
}

fn run_verifier(mut cmd: Command, cfg: &Config) -> Result<(), String> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run verifier: {}", e))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let out = child.wait_with_output().map_err(|e| e.to_string())?;
                if status.success() {
                    return Ok(());
                }
                let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stdout));
                let text = redact(&text, cfg);
                let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).rev().take(6).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(format!("exit {}: {}", status.code().unwrap_or(-1), tail.join(" | ")));
            }
            Ok(None) if start.elapsed() > VERIFY_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("verifier timed out".into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Never let the secret out through a tool's error message.
fn redact(text: &str, cfg: &Config) -> String {
    let p = cfg.password.expose();
    if p.is_empty() {
        text.to_string()
    } else {
        text.replace(p, "***")
    }
}

/// `name` in the usual sbin/bin directories (keepalived lives in /usr/sbin, which a
/// non-login PATH may lack).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    for d in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        dirs.push(PathBuf::from(d));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// `/etc/sysupgrade.conf` with our paths added (other lines untouched) and our keep.d list.
fn sysupgrade_files(paths: &Paths) -> Vec<OutputFile> {
    let existing = std::fs::read_to_string(paths.sysupgrade_conf()).unwrap_or_default();
    vec![
        OutputFile { path: paths.sysupgrade_conf(), contents: render::sysupgrade::with_our_paths(&existing), mode: 0o644 },
        OutputFile { path: paths.keep_d(), contents: render::sysupgrade::keep_d(), mode: 0o644 },
    ]
}
