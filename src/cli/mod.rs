//! Command line front end (argh).

use crate::paths::Paths;
use argh::FromArgs;

/// muros-ha: high availability for OpenWrt routers.
#[derive(FromArgs, Debug)]
pub struct Cli {
    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
    #[argh(subcommand)]
    pub command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Notify(NotifyCmd),
    Plan(PlanCmd),
}

/// keepalived's notify hook: apply the transition (TYPE NAME STATE [PRIO] as keepalived appends them)
#[derive(FromArgs, Debug)]
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
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "plan")]
pub struct PlanCmd {
    /// root directory prefixed to every path (default /)
    #[argh(option, default = "String::from(\"/\")")]
    pub root: String,
    /// master|backup|fault|stop
    #[argh(positional)]
    pub state: String,
}

/// Run the CLI; returns the process exit code. Usage errors exit 2.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some((cmd, rest)) = strs.split_first() else { return 2 };
    let cli = match Cli::from_args(&[cmd], rest) {
        Ok(c) => c,
        Err(early) => {
            // argh reports both --help (status Ok) and usage errors through EarlyExit.
            return match early.status {
                Ok(()) => {
                    println!("{}", early.output);
                    0
                }
                Err(()) => {
                    eprintln!("{}", early.output);
                    2
                }
            };
        }
    };
    if cli.version {
        println!("muros-ha {}", crate::VERSION);
        return 0;
    }
    match cli.command {
        Some(Command::Notify(n)) => crate::failover::notify::command(&Paths::new(n.root), &n.args),
        Some(Command::Plan(p)) => crate::failover::show_plan::command(&Paths::new(p.root), &p.state),
        None => 0,
    }
}
