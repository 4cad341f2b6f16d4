//! Command line front end (argh): `check`, `render`, `notify`, `plan`, `daemon`. The
//! usage texts are argh's, pinned by `tests/cli_usage.rs`; usage errors go to stderr and
//! exit 2.

use crate::deploy::{self, DeployError, DeployOptions};
use crate::paths::Paths;
use argh::FromArgs;

/// muros-ha: high availability for OpenWrt routers (keepalived + conntrackd + shared-MAC WAN).
#[derive(FromArgs)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct Cli {
    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
    #[argh(subcommand)]
    pub command: Option<Command>,
}

#[derive(FromArgs)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[argh(subcommand)]
pub enum Command {
    Check(CheckCmd),
    Render(RenderCmd),
    Notify(NotifyCmd),
    Plan(PlanCmd),
    Daemon(DaemonCmd),
    WanCached(WanCachedCmd),
}

/// netifd proto handler step: bring the WAN up from the cached DHCP lease (MASTER only)
#[derive(FromArgs)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[argh(subcommand, name = "wan-cached")]
pub struct WanCachedCmd {
    /// root directory prefixed to every path (default /)
    #[argh(option, default = "String::from(\"/\")")]
    pub root: String,
    /// the logical WAN interface (network.interface.<name>)
    #[argh(positional)]
    pub interface: String,
}

/// Validate /etc/config/muros_ha (with network and system); list every error.
#[derive(FromArgs)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[argh(subcommand, name = "check")]
pub struct CheckCmd {
    /// root directory prefixed to every path (default /)
    #[argh(option, default = "String::from(\"/\")")]
    pub root: String,
}

/// Validate, render and atomically install keepalived, conntrackd and firewall configs.
#[derive(FromArgs)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[argh(subcommand, name = "render")]
pub struct RenderCmd {
    /// root directory prefixed to every path (default /)
    #[argh(option, default = "String::from(\"/\")")]
    pub root: String,
    /// binary that keepalived's notify line calls (default: this executable)
    #[argh(option)]
    pub hook: Option<String>,
    /// skip `keepalived -t` on the candidate (e.g. on a build host without the interfaces)
    #[argh(switch)]
    pub no_verify: bool,
    /// show what would change, write nothing
    #[argh(switch)]
    pub dry_run: bool,
}

/// Run the ubus object `muros_ha` in the foreground (for procd).
#[derive(FromArgs)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[argh(subcommand, name = "daemon")]
pub struct DaemonCmd {
    /// root directory prefixed to every path (default /)
    #[argh(option, default = "String::from(\"/\")")]
    pub root: String,
    /// ubus socket (default ROOT/var/run/ubus/ubus.sock)
    #[argh(option)]
    pub socket: Option<String>,
    /// binary that keepalived's notify line calls (default: this executable)
    #[argh(option)]
    pub hook: Option<String>,
    /// skip `keepalived -t` on apply (e.g. on a build host without the interfaces)
    #[argh(switch)]
    pub no_verify: bool,
    /// do not re-apply the current state at start
    #[argh(switch)]
    pub no_converge: bool,
}

/// Exit codes shared by the subcommands.
pub mod exit {
    pub const OK: i32 = 0;
    pub const INVALID_CONFIG: i32 = 1;
    pub const FAILURE: i32 = 2;
}

/// The path keepalived should call back: this executable, unless told otherwise.
pub fn default_hook() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_string))
        .unwrap_or_else(|| "/usr/sbin/muros-ha".to_string())
}

/// keepalived's notify hook: apply the transition (TYPE NAME STATE [PRIO] as keepalived appends them)
#[derive(FromArgs)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[argh(subcommand, name = "notify")]
pub struct NotifyCmd {
    /// root directory prefixed to every path (default /)
    #[argh(option, default = "String::from(\"/\")")]
    pub root: String,
    /// GROUP|INSTANCE NAME MASTER|BACKUP|FAULT|STOP [PRIO]
    #[argh(positional, greedy)]
    pub args: Vec<String>,
}

/// print the ordered actions of a transition without running them
#[derive(FromArgs)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[argh(subcommand, name = "plan")]
pub struct PlanCmd {
    /// root directory prefixed to every path (default /)
    #[argh(option, default = "String::from(\"/\")")]
    pub root: String,
    /// master|backup|fault|stop
    #[argh(positional)]
    pub state: String,
}

// ---------------------------------------------------------------------------------------
// Running

/// Run the CLI; returns the process exit code. Usage errors exit 2.
pub fn main() -> i32 {
    let args = match utf8_args(std::env::args_os()) {
        Ok(a) => a,
        Err(e) => {
            errln!("{}", e);
            return exit::FAILURE;
        }
    };
    let cli = match parse(&args) {
        Ok(c) => c,
        Err(e) => return e,
    };
    if cli.version {
        outln!("muros-ha {}", crate::VERSION);
        return exit::OK;
    }
    match cli.command {
        None => {
            errln!("muros-ha: no command given; see `muros-ha --help`");
            exit::FAILURE
        }
        Some(Command::Check(c)) => check(&Paths::new(c.root)),
        Some(Command::Render(c)) => render(c),
        Some(Command::Notify(n)) => crate::failover::notify::command(&Paths::new(n.root), &n.args),
        Some(Command::Plan(p)) => crate::failover::show_plan::command(&Paths::new(p.root), &p.state),
        Some(Command::WanCached(w)) => crate::failover::lease::command(&Paths::new(w.root), &w.interface),
        Some(Command::Daemon(d)) => {
            let paths = Paths::new(d.root);
            let socket = d.socket.map(std::path::PathBuf::from).unwrap_or_else(|| paths.ubus_socket());
            crate::daemon::run(crate::daemon::run::RunOptions {
                paths,
                socket,
                hook_binary: d.hook.unwrap_or_else(default_hook),
                verify: !d.no_verify,
                no_converge: d.no_converge,
            })
        }
    }
}

/// The command line as strings (argh parses `&str`): a clear error for an argument that
/// is not UTF-8, where `std::env::args` would panic.
fn utf8_args(args: impl Iterator<Item = std::ffi::OsString>) -> Result<Vec<String>, String> {
    args.enumerate()
        .map(|(i, a)| a.into_string().map_err(|a| format!("muros-ha: argument {} is not valid UTF-8: {}", i, a.to_string_lossy())))
        .collect()
}

/// argv (with argv[0]) → what to run; else the help (stdout, exit 0) or the usage error
/// (stderr, exit 2) is printed and the exit code returned. Printed here rather than by
/// `argh::from_env`, which would exit 1 on an error and panic on a closed stdout.
fn parse(args: &[String]) -> Result<Cli, i32> {
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some((argv0, rest)) = strs.split_first() else { return Err(exit::FAILURE) };
    Cli::from_args(&[argv0], rest).map_err(|early| match early.status {
        Ok(()) => {
            outln!("{}", early.output);
            exit::OK
        }
        Err(()) => {
            errln!("{}", early.output);
            exit::FAILURE
        }
    })
}

fn check(paths: &Paths) -> i32 {
    let sources = match crate::model::load_packages(paths) {
        Ok(s) => s,
        Err(errors) => return print_errors(&errors),
    };
    for w in &sources.warnings {
        errln!("warning: {}", w);
    }
    match crate::model::validate(&sources) {
        Ok(cfg) => {
            // Not errors: the admin's DHCP settings are theirs, render keeps them.
            let mut warnings = Vec::new();
            let _ = deploy::dhcp_with_vip_gateway(&cfg, paths, &mut warnings);
            for w in &warnings {
                errln!("warning: {}", w);
            }
            outln!(
                "ok: {} VIP{}, role {}, priority {}{}",
                cfg.vips.len(),
                if cfg.vips.len() == 1 { "" } else { "s" },
                if cfg.role == crate::model::Role::Master { "Master" } else { "Backup" },
                cfg.effective_priority(),
                if cfg.wan.is_some() { ", shared-MAC WAN" } else { "" }
            );
            exit::OK
        }
        Err(errors) => print_errors(&errors),
    }
}

fn print_errors(errors: &[crate::model::ConfigError]) -> i32 {
    for e in errors {
        errln!("error: {}", e);
    }
    errln!("{} error{}", errors.len(), if errors.len() == 1 { "" } else { "s" });
    exit::INVALID_CONFIG
}

fn render(c: RenderCmd) -> i32 {
    let paths = Paths::new(c.root);
    let opts = DeployOptions { verify: !c.no_verify, hook_binary: c.hook.unwrap_or_else(default_hook), dry_run: c.dry_run };
    match deploy::apply(&paths, &opts) {
        Ok(report) => {
            for w in &report.warnings {
                errln!("warning: {}", w);
            }
            let verb = if c.dry_run { "would write" } else { "wrote" };
            for p in &report.changed {
                outln!("{} {}", verb, p.display());
            }
            for p in &report.unchanged {
                outln!("unchanged {}", p.display());
            }
            exit::OK
        }
        Err(DeployError::Invalid(errors)) => print_errors(&errors),
        Err(e) => {
            errln!("error: {}", e);
            errln!("no file was changed");
            exit::FAILURE
        }
    }
}

#[cfg(test)]
mod tests;
