//! Command line front end: `check`, `render`, `notify`, `plan`, `daemon`. A small parser
//! of our own (argh cost 4–8 KB of the static binary) that accepts what argh 0.1 accepted
//! and prints the same usage texts, byte for byte; they are pinned by `tests/cli_usage.rs`.
//!
//! The grammar, as argh has it: `--help` or `help` anywhere among the options asks for the
//! usage (but nothing starting with `-` may follow it); an option takes the next argument
//! as its value, whatever it is; an option given twice is an error, a switch given twice
//! is not; `--` ends the options; the first of notify's positionals ends them too.
//! `help check` is `check --help`. Usage errors go to stderr and exit 2.

use crate::deploy::{self, DeployError, DeployOptions};
use crate::paths::Paths;

/// muros-ha: high availability for OpenWrt routers (keepalived + conntrackd + shared-MAC WAN).
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct Cli {
    /// print the version and exit
    pub version: bool,
    pub command: Option<Command>,
}

#[cfg_attr(test, derive(Debug, PartialEq))]
pub enum Command {
    Check(CheckCmd),
    Render(RenderCmd),
    Notify(NotifyCmd),
    Plan(PlanCmd),
    Daemon(DaemonCmd),
}

/// Validate /etc/config/muros_ha (with network and system); list every error.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct CheckCmd {
    /// root directory prefixed to every path (default /)
    pub root: String,
}

/// Validate, render and atomically install keepalived, conntrackd and firewall configs.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct RenderCmd {
    /// root directory prefixed to every path (default /)
    pub root: String,
    /// binary that keepalived's notify line calls (default: this executable)
    pub hook: Option<String>,
    /// skip `keepalived -t` on the candidate (e.g. on a build host without the interfaces)
    pub no_verify: bool,
    /// show what would change, write nothing
    pub dry_run: bool,
}

/// Run the ubus object `muros_ha` in the foreground (for procd).
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct DaemonCmd {
    /// root directory prefixed to every path (default /)
    pub root: String,
    /// ubus socket (default ROOT/var/run/ubus/ubus.sock)
    pub socket: Option<String>,
    /// binary that keepalived's notify line calls (default: this executable)
    pub hook: Option<String>,
    /// skip `keepalived -t` on apply (e.g. on a build host without the interfaces)
    pub no_verify: bool,
    /// do not re-apply the current state at start
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
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct NotifyCmd {
    /// root directory prefixed to every path (default /)
    pub root: String,
    /// GROUP|INSTANCE NAME MASTER|BACKUP|FAULT|STOP [PRIO]
    pub args: Vec<String>,
}

/// print the ordered actions of a transition without running them
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct PlanCmd {
    /// root directory prefixed to every path (default /)
    pub root: String,
    /// master|backup|fault|stop
    pub state: String,
}

// ---------------------------------------------------------------------------------------
// Usage texts: what follows `Usage: <argv0>`, exactly as argh printed it.

// Lines shared by several texts (macros, so that `concat!` takes them).
macro_rules! root_line {
    () => {
        "  --root            root directory prefixed to every path (default /)\n"
    };
}
macro_rules! hook_line {
    () => {
        "  --hook            binary that keepalived's notify line calls (default: this\n                    executable)\n"
    };
}
macro_rules! help_line {
    () => {
        "  --help, help      display usage information\n"
    };
}

const TOP_USAGE: &str = concat!(
    " [--version] [<command>] [<args>]\n\n",
    "muros-ha: high availability for OpenWrt routers (keepalived + conntrackd + shared-MAC WAN).\n\n",
    "Options:\n",
    "  --version         print the version and exit\n",
    help_line!(),
    "\nCommands:\n",
    "  check             Validate /etc/config/muros_ha (with network and system);\n",
    "                    list every error.\n",
    "  render            Validate, render and atomically install keepalived,\n",
    "                    conntrackd and firewall configs.\n",
    "  notify            keepalived's notify hook: apply the transition (TYPE NAME\n",
    "                    STATE [PRIO] as keepalived appends them)\n",
    "  plan              print the ordered actions of a transition without running\n",
    "                    them\n",
    "  daemon            Run the ubus object `muros_ha` in the foreground (for\n",
    "                    procd).\n",
);

const CHECK_USAGE: &str = concat!(
    " check [--root <root>]\n\n",
    "Validate /etc/config/muros_ha (with network and system); list every error.\n\n",
    "Options:\n",
    root_line!(),
    help_line!(),
);

const RENDER_USAGE: &str = concat!(
    " render [--root <root>] [--hook <hook>] [--no-verify] [--dry-run]\n\n",
    "Validate, render and atomically install keepalived, conntrackd and firewall configs.\n\n",
    "Options:\n",
    root_line!(),
    hook_line!(),
    "  --no-verify       skip `keepalived -t` on the candidate (e.g. on a build host\n",
    "                    without the interfaces)\n",
    "  --dry-run         show what would change, write nothing\n",
    help_line!(),
);

const NOTIFY_USAGE: &str = concat!(
    " notify [--root <root>] [args...]\n\n",
    "keepalived's notify hook: apply the transition (TYPE NAME STATE [PRIO] as keepalived appends them)\n\n",
    "Options:\n",
    root_line!(),
    help_line!(),
);

const PLAN_USAGE: &str = concat!(
    " plan [--root <root>] [--] <state>\n\n",
    "print the ordered actions of a transition without running them\n\n",
    "Positional Arguments:\n",
    "  state             master|backup|fault|stop\n\n",
    "Options:\n",
    root_line!(),
    help_line!(),
);

const DAEMON_USAGE: &str = concat!(
    " daemon [--root <root>] [--socket <socket>] [--hook <hook>] [--no-verify] [--no-converge]\n\n",
    "Run the ubus object `muros_ha` in the foreground (for procd).\n\n",
    "Options:\n",
    root_line!(),
    "  --socket          ubus socket (default ROOT/var/run/ubus/ubus.sock)\n",
    hook_line!(),
    "  --no-verify       skip `keepalived -t` on apply (e.g. on a build host without\n",
    "                    the interfaces)\n",
    "  --no-converge     do not re-apply the current state at start\n",
    help_line!(),
);

// ---------------------------------------------------------------------------------------
// Parsing

/// Why parsing stopped short of a command to run.
#[cfg_attr(test, derive(Debug, PartialEq))]
enum Early {
    /// `--help`: print `Usage: <argv0>` and this on stdout, exit 0.
    Help(&'static str),
    /// A usage error: print this on stderr, exit 2.
    Error(String),
}

/// What a command line may have besides options and switches.
#[derive(Clone, Copy)]
enum Positionals {
    Zero,
    /// Exactly one, required; the name is for the error when it is missing.
    One(&'static str),
    /// Any number; the first ends the options (what follows is taken as it is).
    Greedy,
    /// The top level: the first is a subcommand, everything after it is its arguments.
    Command,
}

/// One subcommand: its grammar, usage text, and how the parsed words become a [`Command`].
struct Spec {
    name: &'static str,
    /// Options that take a value, in the order of [`Parsed::values`].
    options: &'static [&'static str],
    /// In the order of [`Parsed::switches`].
    switches: &'static [&'static str],
    positionals: Positionals,
    usage: &'static str,
    build: fn(Parsed) -> Command,
}

#[derive(Default)]
struct Parsed {
    help: bool,
    values: [Option<String>; 3],
    switches: [bool; 2],
    positionals: Vec<String>,
}

impl Parsed {
    /// `--root`, always the first option.
    fn root(&mut self) -> String {
        self.values[0].take().unwrap_or_else(|| "/".to_string())
    }
}

const COMMANDS: [Spec; 5] = [
    Spec {
        name: "check",
        options: &["--root"],
        switches: &[],
        positionals: Positionals::Zero,
        usage: CHECK_USAGE,
        build: |mut p| Command::Check(CheckCmd { root: p.root() }),
    },
    Spec {
        name: "render",
        options: &["--root", "--hook"],
        switches: &["--no-verify", "--dry-run"],
        positionals: Positionals::Zero,
        usage: RENDER_USAGE,
        build: |mut p| {
            let [no_verify, dry_run] = p.switches;
            Command::Render(RenderCmd { root: p.root(), hook: p.values[1].take(), no_verify, dry_run })
        },
    },
    Spec {
        name: "notify",
        options: &["--root"],
        switches: &[],
        positionals: Positionals::Greedy,
        usage: NOTIFY_USAGE,
        build: |mut p| Command::Notify(NotifyCmd { root: p.root(), args: p.positionals }),
    },
    Spec {
        name: "plan",
        options: &["--root"],
        switches: &[],
        positionals: Positionals::One("state"),
        usage: PLAN_USAGE,
        // Exactly one positional: `parse` checked that it is there.
        build: |mut p| Command::Plan(PlanCmd { root: p.root(), state: p.positionals.pop().unwrap_or_default() }),
    },
    Spec {
        name: "daemon",
        options: &["--root", "--socket", "--hook"],
        switches: &["--no-verify", "--no-converge"],
        positionals: Positionals::Zero,
        usage: DAEMON_USAGE,
        build: |mut p| {
            let [no_verify, no_converge] = p.switches;
            let (socket, hook) = (p.values[1].take(), p.values[2].take());
            Command::Daemon(DaemonCmd { root: p.root(), socket, hook, no_verify, no_converge })
        },
    },
];

fn unrecognized(arg: &str) -> Early {
    Early::Error(format!("Unrecognized argument: {}\n", arg))
}

/// The arguments after argv[0] → what to run, or the help or error to print instead.
fn parse(args: &[String]) -> Result<Cli, Early> {
    let top = parse_words(args, &[], &["--version"], Positionals::Command, false)?;
    let version = top.switches[0];
    let Some((name, rest)) = top.positionals.split_first() else {
        return if top.help { Err(Early::Help(TOP_USAGE)) } else { Ok(Cli { version, command: None }) };
    };
    let spec = COMMANDS.iter().find(|c| c.name == name).ok_or_else(|| unrecognized(name))?;
    // `help check` is `check --help`.
    let sub = parse_words(rest, spec.options, spec.switches, spec.positionals, top.help)?;
    if sub.help {
        return Err(Early::Help(spec.usage));
    }
    if let Positionals::One(name) = spec.positionals {
        if sub.positionals.is_empty() {
            return Err(Early::Error(format!("Required positional arguments not provided:\n    {}\n", name)));
        }
    }
    Ok(Cli { version, command: Some((spec.build)(sub)) })
}

/// One command's words, argh's way (see the module doc). `help`: it was asked for already.
fn parse_words(args: &[String], options: &[&str], switches: &[&str], positionals: Positionals, help: bool) -> Result<Parsed, Early> {
    let mut p = Parsed { help, ..Parsed::default() };
    let mut options_ended = false;
    let mut words = args.iter();
    while let Some(arg) = words.next() {
        if !options_ended && (arg == "--help" || arg == "help") {
            p.help = true;
        } else if !options_ended && arg.starts_with('-') {
            if arg == "--" {
                options_ended = true;
            } else if p.help {
                return Err(Early::Error("Trailing arguments are not allowed after `help`.".to_string()));
            } else if let Some(i) = options.iter().position(|o| o == arg) {
                let Some(value) = words.next() else {
                    return Err(Early::Error(format!("No value provided for option '{}'.\n", arg)));
                };
                if p.values[i].replace(value.clone()).is_some() {
                    return Err(Early::Error(format!(
                        "Error parsing option '{}' with value '{}': duplicate values provided\n",
                        arg, value
                    )));
                }
            } else if let Some(i) = switches.iter().position(|s| s == arg) {
                p.switches[i] = true;
            } else {
                return Err(unrecognized(arg));
            }
        } else {
            match positionals {
                Positionals::One(_) if p.positionals.is_empty() => p.positionals.push(arg.clone()),
                Positionals::Greedy => {
                    p.positionals.push(arg.clone());
                    options_ended = true;
                }
                Positionals::Command => {
                    p.positionals.push(arg.clone());
                    p.positionals.extend(words.cloned());
                    break;
                }
                _ => return Err(unrecognized(arg)),
            }
        }
    }
    Ok(p)
}

// ---------------------------------------------------------------------------------------
// Running

/// Run the CLI; returns the process exit code. Usage errors exit 2.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().collect();
    let Some((argv0, rest)) = args.split_first() else { return exit::FAILURE };
    let cli = match parse(rest) {
        Ok(c) => c,
        Err(Early::Help(usage)) => {
            outln!("Usage: {}{}", argv0, usage);
            return exit::OK;
        }
        Err(Early::Error(e)) => {
            errln!("{}", e);
            return exit::FAILURE;
        }
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
