//! Command line front end (argh).

use argh::FromArgs;

/// muros-ha: high availability for OpenWrt routers.
#[derive(FromArgs, Debug)]
pub struct Cli {
    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
}

/// Run the CLI; returns the process exit code.
pub fn main() -> i32 {
    let cli: Cli = argh::from_env();
    if cli.version {
        println!("muros-ha {}", crate::VERSION);
        return 0;
    }
    0
}
