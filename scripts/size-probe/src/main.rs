//! Each feature exercises its crate the way muros-ha does, so the size delta is
//! what that use costs, not just the crate being linked.
#![forbid(unsafe_code)]

#[cfg(feature = "json")]
#[derive(serde::Serialize, serde::Deserialize)]
struct Status {
    version: String,
    enabled: bool,
    priority: u8,
    instances: Vec<String>,
}

#[cfg(feature = "args")]
#[derive(argh::FromArgs)]
/// probe
struct Cli {
    /// print the version
    #[argh(switch)]
    version: bool,
    /// root directory
    #[argh(option)]
    root: Option<String>,
}

fn main() {
    let mut out = String::from("probe");
    #[cfg(feature = "args")]
    {
        let cli: Cli = argh::from_env();
        if cli.version {
            out.push_str(" v");
        }
        if let Some(r) = cli.root {
            out.push_str(&r);
        }
    }
    #[cfg(not(feature = "args"))]
    for a in std::env::args().skip(1) {
        out.push_str(&a);
    }
    #[cfg(feature = "json")]
    {
        let s = Status { version: out.clone(), enabled: true, priority: 150, instances: vec![out.clone()] };
        if let Ok(j) = serde_json::to_string(&s) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&j) {
                out = v.to_string();
            }
            if let Ok(back) = serde_json::from_str::<Status>(&j) {
                out.push_str(&back.version);
            }
        }
    }
    #[cfg(feature = "syslog")]
    {
        let f = syslog::Formatter3164 {
            facility: syslog::Facility::LOG_DAEMON,
            hostname: None,
            process: "probe".into(),
            pid: std::process::id(),
        };
        if let Ok(logger) = syslog::unix(f) {
            let _ = log::set_boxed_logger(Box::new(syslog::BasicLogger::new(logger)));
            log::set_max_level(log::LevelFilter::Info);
            log::info!("{}", out);
        }
    }
    println!("{out}");
}
