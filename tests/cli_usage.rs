//! The command-line interface is a contract (LuCI, the init script, keepalived's notify
//! line and the labs call it): its usage text is pinned here, so a change is deliberate.
//! Update with `UPDATE_GOLDEN=1 cargo test --test cli_usage` and review the diff.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_muros-ha");

fn pinned(name: &str, args: &[&str]) {
    let out = Command::new(BIN).args(args).output().unwrap();
    // The usage line has argv[0]; the checkout path differs between machines.
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)).replace(BIN, "muros-ha");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/cli").join(format!("{}.txt", name));
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&file, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {} (run with UPDATE_GOLDEN=1)", file.display(), e));
    assert_eq!(text, want, "usage of `muros-ha {}` changed; if deliberate, UPDATE_GOLDEN=1", args.join(" "));
}

#[test]
fn usage_texts_are_pinned() {
    pinned("help", &["--help"]);
    for cmd in ["check", "render", "notify", "plan", "daemon", "wan-cached"] {
        pinned(cmd, &[cmd, "--help"]);
    }
}

#[test]
fn help_forms_print_the_same_usage() {
    let want = Command::new(BIN).args(["check", "--help"]).output().unwrap();
    for args in [&["check", "help"][..], &["help", "check"], &["check", "--root", "/x", "--help"]] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{:?}", args);
        assert_eq!(out.stdout, want.stdout, "{:?}", args);
    }
    let top = Command::new(BIN).arg("help").output().unwrap();
    assert_eq!(top.stdout, Command::new(BIN).arg("--help").output().unwrap().stdout);
}

#[test]
fn usage_errors_go_to_stderr_with_exit_2() {
    for (args, msg) in [
        (&["check", "--bogus"][..], "Unrecognized argument: --bogus\n"),
        (&["check", "--root"], "No value provided for option '--root'.\n"),
        (&["plan"], "Required positional arguments not provided:\n    state\n"),
        (&["bogus"], "Unrecognized argument: bogus\n"),
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{:?}", args);
        assert!(out.stdout.is_empty(), "{:?}", args);
        assert_eq!(String::from_utf8_lossy(&out.stderr), format!("{}\n", msg), "{:?}", args);
    }
}

#[test]
fn version_prints_the_crate_version() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("muros-ha {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn no_command_is_an_error_not_a_silent_success() {
    let out = Command::new(BIN).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `muros-ha --help | head -1`: the reader is gone before the help is written. Writes to
/// a closed pipe fail with EPIPE (Rust ignores SIGPIPE); that must not panic, which with
/// panic=immediate-abort kills the static binary (SIGILL, SIGTRAP on aarch64).
#[test]
fn output_to_a_closed_pipe_is_not_a_crash() {
    use nix::fcntl::OFlag;
    for args in [&["--help"][..], &["check", "--help"], &["--version"]] {
        // The read end is closed before the child exists, so every write to it fails.
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        drop(read);
        let status = Command::new(BIN).args(args).stdout(write).status().unwrap();
        assert_eq!(status.code(), Some(0), "muros-ha {} into a closed pipe: {:?}", args.join(" "), status);
    }
}

/// argv may hold any bytes; argh parses strings. A clear usage error, never a panic.
#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let out = Command::new(BIN).args(["check", "--root"]).arg(std::ffi::OsStr::from_bytes(b"/r\xff")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "muros-ha: argument 3 is not valid UTF-8: /r\u{fffd}\n");
}
