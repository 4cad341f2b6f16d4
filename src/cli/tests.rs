//! What argh makes of the command lines LuCI, the init script, keepalived and the labs
//! use, and of the odd ones (these are the cases the hand-written parser that replaced
//! argh for a while was checked against). The usage texts themselves are pinned by
//! `tests/cli_usage.rs`.

use super::*;

#[derive(Debug, PartialEq)]
enum Early {
    Help(String),
    Error(String),
}

fn run(args: &[&str]) -> Result<Cli, Early> {
    Cli::from_args(&["muros-ha"], args).map_err(|e| match e.status {
        Ok(()) => Early::Help(e.output),
        Err(()) => Early::Error(e.output),
    })
}

fn ok(args: &[&str]) -> Command {
    let cli = run(args).unwrap_or_else(|e| panic!("{:?}: {:?}", args, e));
    assert!(!cli.version, "{:?}", args);
    cli.command.unwrap_or_else(|| panic!("{:?}: no command", args))
}

fn err(args: &[&str]) -> String {
    match run(args) {
        Err(Early::Error(e)) => e,
        other => panic!("{:?}: {:?}", args, other),
    }
}

fn help(args: &[&str]) -> String {
    match run(args) {
        Err(Early::Help(usage)) => usage,
        other => panic!("{:?}: {:?}", args, other),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_subcommand_with_every_option() {
    assert_eq!(ok(&["check", "--root", "/r"]), Command::Check(CheckCmd { root: "/r".into() }));
    assert_eq!(
        ok(&["render", "--dry-run", "--hook", "/h", "--no-verify", "--root", "/r"]),
        Command::Render(RenderCmd { root: "/r".into(), hook: Some("/h".into()), no_verify: true, dry_run: true })
    );
    assert_eq!(
        ok(&["notify", "--root", "/r", "INSTANCE", "vi_lan", "MASTER", "100"]),
        Command::Notify(NotifyCmd { root: "/r".into(), args: strings(&["INSTANCE", "vi_lan", "MASTER", "100"]) })
    );
    assert_eq!(ok(&["plan", "master", "--root", "/r"]), Command::Plan(PlanCmd { root: "/r".into(), state: "master".into() }));
    assert_eq!(
        ok(&["daemon", "--no-converge", "--socket", "/s", "--hook", "/h", "--root", "/r", "--no-verify"]),
        Command::Daemon(DaemonCmd {
            root: "/r".into(),
            socket: Some("/s".into()),
            hook: Some("/h".into()),
            no_verify: true,
            no_converge: true
        })
    );
}

#[test]
fn defaults() {
    assert_eq!(run(&[]), Ok(Cli { version: false, command: None }));
    assert_eq!(ok(&["check"]), Command::Check(CheckCmd { root: "/".into() }));
    assert_eq!(ok(&["render"]), Command::Render(RenderCmd { root: "/".into(), hook: None, no_verify: false, dry_run: false }));
    assert_eq!(ok(&["notify"]), Command::Notify(NotifyCmd { root: "/".into(), args: vec![] }));
    assert_eq!(
        ok(&["daemon"]),
        Command::Daemon(DaemonCmd { root: "/".into(), socket: None, hook: None, no_verify: false, no_converge: false })
    );
}

#[test]
fn version() {
    assert_eq!(run(&["--version"]), Ok(Cli { version: true, command: None }));
    assert_eq!(run(&["--version", "--version"]), Ok(Cli { version: true, command: None }));
    // Before the subcommand only; main prints the version and runs nothing.
    let cli = run(&["--version", "check"]).unwrap();
    assert_eq!((cli.version, cli.command), (true, Some(Command::Check(CheckCmd { root: "/".into() }))));
    assert_eq!(err(&["check", "--version"]), "Unrecognized argument: --version\n");
    assert_eq!(err(&["--version", "extra"]), "Unrecognized argument: extra\n");
}

#[test]
fn an_option_takes_the_next_argument_whatever_it_is() {
    assert_eq!(ok(&["check", "--root", "--help"]), Command::Check(CheckCmd { root: "--help".into() }));
    assert_eq!(ok(&["check", "--root", "help"]), Command::Check(CheckCmd { root: "help".into() }));
    assert_eq!(ok(&["check", "--root", ""]), Command::Check(CheckCmd { root: "".into() }));
    assert_eq!(
        ok(&["render", "--hook", "--dry-run"]),
        Command::Render(RenderCmd { root: "/".into(), hook: Some("--dry-run".into()), no_verify: false, dry_run: false })
    );
}

#[test]
fn missing_values() {
    assert_eq!(err(&["check", "--root"]), "No value provided for option '--root'.\n");
    assert_eq!(err(&["render", "--hook"]), "No value provided for option '--hook'.\n");
    assert_eq!(err(&["daemon", "--socket"]), "No value provided for option '--socket'.\n");
    assert_eq!(err(&["plan", "--root"]), "No value provided for option '--root'.\n");
    assert_eq!(err(&["plan"]), "Required positional arguments not provided:\n    state\n");
    assert_eq!(err(&["plan", "--root", "/r"]), "Required positional arguments not provided:\n    state\n");
}

#[test]
fn unknown_arguments() {
    for (args, bad) in [
        (&["check", "--bogus"][..], "--bogus"),
        (&["check", "-h"], "-h"),
        (&["check", "-"], "-"),
        (&["check", "--root=/x"], "--root=/x"),
        (&["check", "extra"], "extra"),
        (&["check", "check"], "check"),
        (&["check", "--", "extra"], "extra"),
        (&["plan", "a", "b"], "b"),
        (&["plan", "-"], "-"),
        (&["notify", "--bogus"], "--bogus"),
        (&["daemon", "--dry-run"], "--dry-run"),
        (&["bogus"], "bogus"),
        (&["--bogus"], "--bogus"),
        (&["-h"], "-h"),
        (&["help", "bogus"], "bogus"),
        (&["help", "check", "extra"], "extra"),
        (&["check", "help", "extra"], "extra"),
        // After `--`, `help` is a word like any other.
        (&["--", "help"], "help"),
    ] {
        assert_eq!(err(args), format!("Unrecognized argument: {}\n", bad), "{:?}", args);
    }
}

#[test]
fn help_forms() {
    let top = help(&["--help"]);
    assert!(top.starts_with("Usage: muros-ha [--version] [<command>] [<args>]\n"), "{}", top);
    for args in [&["help"][..], &["help", "help"], &["help", "--help"], &["--version", "--help"]] {
        assert_eq!(help(args), top, "{:?}", args);
    }
    let check = help(&["check", "--help"]);
    assert!(check.starts_with("Usage: muros-ha check [--root <root>]\n"), "{}", check);
    for args in [
        &["check", "help"][..],
        &["help", "check"],
        &["--help", "check"],
        &["check", "--root", "/r", "help"],
        &["check", "--root", "/r", "--help"],
        &["--version", "check", "--help"],
    ] {
        assert_eq!(help(args), check, "{:?}", args);
    }
    assert!(help(&["render", "help"]).starts_with("Usage: muros-ha render "));
    assert!(help(&["daemon", "--no-verify", "--no-converge", "--no-verify", "help"]).starts_with("Usage: muros-ha daemon "));
    // Help wins over a missing positional, and positionals may come before or after it.
    let plan = help(&["plan", "--help"]);
    assert!(plan.starts_with("Usage: muros-ha plan "), "{}", plan);
    for args in [&["plan", "help"][..], &["plan", "--help", "x"], &["plan", "x", "--help"], &["help", "plan"]] {
        assert_eq!(help(args), plan, "{:?}", args);
    }
    assert!(help(&["notify", "help", "A", "B"]).starts_with("Usage: muros-ha notify "));
}

#[test]
fn arguments_that_are_not_utf8_are_an_error_not_a_panic() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let good = [OsString::from("muros-ha"), OsString::from("check")];
    assert_eq!(utf8_args(good.into_iter()), Ok(strings(&["muros-ha", "check"])));
    let bad = [OsString::from("muros-ha"), OsString::from("--root"), OsString::from_vec(b"/r\xff".to_vec())];
    assert_eq!(utf8_args(bad.into_iter()), Err("muros-ha: argument 2 is not valid UTF-8: /r\u{fffd}".to_string()));
}

#[test]
fn nothing_that_looks_like_an_option_after_help() {
    for args in [
        &["--help", "--version"][..],
        &["help", "--version"],
        &["check", "--help", "--root", "x"],
        &["help", "check", "--root"],
        &["notify", "help", "--root", "x"],
    ] {
        assert_eq!(err(args), "Trailing arguments are not allowed after `help`.", "{:?}", args);
    }
}

#[test]
fn double_dash_ends_the_options() {
    assert_eq!(ok(&["plan", "--", "--weird"]), Command::Plan(PlanCmd { root: "/".into(), state: "--weird".into() }));
    assert_eq!(ok(&["plan", "--", "help"]), Command::Plan(PlanCmd { root: "/".into(), state: "help".into() }));
    assert_eq!(ok(&["plan", "--", "--"]), Command::Plan(PlanCmd { root: "/".into(), state: "--".into() }));
    assert_eq!(err(&["plan", "--", "a", "b"]), "Unrecognized argument: b\n");
    assert_eq!(ok(&["notify", "--", "--weird"]), Command::Notify(NotifyCmd { root: "/".into(), args: strings(&["--weird"]) }));
    assert_eq!(ok(&["check", "--"]), Command::Check(CheckCmd { root: "/".into() }));
    // At the top level it ends the options, and a subcommand may still follow.
    assert_eq!(ok(&["--", "check", "--root", "/r"]), Command::Check(CheckCmd { root: "/r".into() }));
}

#[test]
fn notify_takes_everything_after_its_first_positional_as_it_is() {
    for args in [
        &["INSTANCE", "--root", "/x", "vi_lan"][..],
        &["INSTANCE", "vi_lan", "help"],
        &["INSTANCE", "--help"],
        &["A", "--", "B"],
        &["A", "--bogus"],
    ] {
        let mut line = vec!["notify"];
        line.extend_from_slice(args);
        assert_eq!(ok(&line), Command::Notify(NotifyCmd { root: "/".into(), args: strings(args) }), "{:?}", line);
    }
}

#[test]
fn repeated_options_are_an_error_repeated_switches_are_not() {
    assert_eq!(err(&["check", "--root", "a", "--root", "b"]), "Error parsing option '--root' with value 'b': duplicate values provided\n");
    assert_eq!(err(&["render", "--hook", "a", "--hook", "b"]), "Error parsing option '--hook' with value 'b': duplicate values provided\n");
    assert_eq!(
        err(&["daemon", "--socket", "a", "--socket", "a"]),
        "Error parsing option '--socket' with value 'a': duplicate values provided\n"
    );
    assert_eq!(
        ok(&["render", "--dry-run", "--dry-run"]),
        Command::Render(RenderCmd { root: "/".into(), hook: None, no_verify: false, dry_run: true })
    );
}
