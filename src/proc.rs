//! Starting programs, on `std::process::Command`: an argument vector (never a shell),
//! stdin on /dev/null, stdout and stderr each either /dev/null or a pipe back to us.
//! std already gives the child only fds 0–2 (everything std opens is `O_CLOEXEC`, and so
//! is everything we open: pitfall 5), an empty signal mask, the default SIGPIPE (std
//! ignores it in our own process), our environment, and reports a failed exec as an
//! error from `spawn` rather than an exit code 127.
//!
//! What std does not do lives here: [`finish`], a wait with a deadline that kills and
//! reaps, reading the child's pipes while it runs (a child writing more than a pipe
//! holds, 64 KiB, would otherwise block forever, and so would we); and [`run_capture`],
//! the one-call "run this, give me its stdout" for probes.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Where a child's stdout or stderr goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Null,
    Pipe,
}

impl Output {
    fn stdio(self) -> Stdio {
        match self {
            Output::Null => Stdio::null(),
            Output::Pipe => Stdio::piped(),
        }
    }
}

/// `name` on the PATH, then in /usr/sbin, /usr/bin, /sbin and /bin: keepalived runs its
/// hook with a minimal PATH, and keepalived, conntrackd and nft live in /usr/sbin.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let listed: Vec<PathBuf> = std::env::split_paths(&path).map(|d| if d.as_os_str().is_empty() { PathBuf::from(".") } else { d }).collect();
    let usual = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].into_iter().map(PathBuf::from);
    listed.into_iter().chain(usual).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Start `program` (a path: no PATH search) with `args`, stdin from /dev/null. Whoever
/// spawns a child reaps it ([`finish`], `Child::wait`): std's `Child` does not on drop.
pub fn spawn<S: AsRef<OsStr>>(program: &Path, args: &[S], stdout: Output, stderr: Output) -> io::Result<Child> {
    Command::new(program).args(args).stdin(Stdio::null()).stdout(stdout.stdio()).stderr(stderr.stdio()).spawn()
}

/// How a child ended under [`finish`], and what it wrote to its pipes.
#[derive(Debug)]
pub struct Finished {
    /// `None`: still running at the deadline, so it was killed (and reaped).
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The first wait between checks on a child whose pipes are quiet, doubled up to
/// [`TICK_MAX`]: a quick child is noticed within a millisecond or two, a slow one costs
/// a few dozen wake-ups a second. Data or EOF on a pipe ends a wait at once.
const TICK_MIN: Duration = Duration::from_millis(1);
const TICK_MAX: Duration = Duration::from_millis(20);
/// How long a SIGKILLed child gets to disappear (one stuck in the kernel, D state, may not).
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Wait at most `timeout` for `child`, collecting its piped stdout and stderr meanwhile
/// (the first `limit` bytes of each; the rest is read and dropped, so the child never
/// blocks on a full pipe). Past the deadline the child is killed and reaped.
///
/// Once the child has exited, what its pipes hold is taken without waiting for EOF: a
/// daemon it started may keep them open for as long as it runs.
pub fn finish(child: &mut Child, timeout: Duration, limit: usize) -> io::Result<Finished> {
    let mut pipes = [child.stdout.take().map(|p| File::from(OwnedFd::from(p))), child.stderr.take().map(|p| File::from(OwnedFd::from(p)))];
    let mut bufs = [Vec::new(), Vec::new()];
    let deadline = Instant::now() + timeout;
    let mut tick = TICK_MIN;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        let now = Instant::now();
        if now >= deadline {
            kill_and_reap(child)?;
            break None;
        }
        let active = read_ready(&mut pipes, &mut bufs, limit, (deadline - now).min(tick));
        tick = if active { TICK_MIN } else { (tick * 2).min(TICK_MAX) };
    };
    for (pipe, buf) in pipes.iter_mut().zip(bufs.iter_mut()) {
        if let Some(f) = pipe.take() {
            drain_nonblocking(f, buf, limit);
        }
    }
    let [stdout, stderr] = bufs;
    Ok(Finished { status, stdout, stderr })
}

fn kill_and_reap(child: &mut Child) -> io::Result<()> {
    // Err only when it was reaped already, which try_wait above rules out.
    let _ = child.kill();
    let give_up = Instant::now() + KILL_GRACE;
    while Instant::now() < give_up {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(TICK_MAX);
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "did not die after SIGKILL"))
}

/// Sleep up to `wait` in poll(2) on the open pipes and read what arrived; a pipe at EOF
/// is closed. Returns whether anything arrived. With no pipe left, just sleeps.
fn read_ready(pipes: &mut [Option<File>; 2], bufs: &mut [Vec<u8>; 2], limit: usize, wait: Duration) -> bool {
    let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
    let open: Vec<usize> = (0..2).filter(|&i| pipes[i].is_some()).collect();
    if open.is_empty() {
        std::thread::sleep(wait);
        return false;
    }
    let ready: Vec<usize> = {
        let mut fds: Vec<PollFd<'_>> = open.iter().filter_map(|&i| pipes[i].as_ref()).map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN)).collect();
        // EINTR (or any poll failure): nothing ready this round; the loop tries again.
        if poll(&mut fds, timeout).unwrap_or(0) <= 0 {
            return false;
        }
        open.iter().zip(&fds).filter(|(_, fd)| fd.revents().is_some_and(|r| !r.is_empty())).map(|(&i, _)| i).collect()
    };
    for i in ready {
        let mut chunk = [0u8; 16 * 1024];
        match pipes[i].as_mut().map(|f| f.read(&mut chunk)) {
            Some(Ok(0)) | Some(Err(_)) => pipes[i] = None,
            Some(Ok(n)) => keep(&mut bufs[i], &chunk[..n], limit),
            None => {}
        }
    }
    true
}

/// Append what still fits under `limit`.
fn keep(buf: &mut Vec<u8>, data: &[u8], limit: usize) {
    let room = limit.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

/// Take what is in the pipe now, without blocking; bounded, in case a daemon that
/// inherited the pipe keeps writing.
fn drain_nonblocking(mut pipe: File, buf: &mut Vec<u8>, limit: usize) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    if fcntl(&pipe, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).is_err() {
        return;
    }
    let mut chunk = [0u8; 16 * 1024];
    for _ in 0..64 {
        match pipe.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => keep(buf, &chunk[..n], limit),
        }
    }
}

/// The most [`run_capture`] keeps of a probe's stdout.
const CAPTURE_MAX: usize = 4 << 20;

/// Run `argv` (no shell; a bare name is looked up with [`find_program`]) with stderr on
/// /dev/null, and return its stdout when it exits 0 within `timeout`.
pub fn run_capture(argv: &[String], timeout: Duration) -> Result<String, String> {
    let (prog, rest) = argv.split_first().ok_or("empty command")?;
    let prog = if prog.contains('/') { PathBuf::from(prog) } else { find_program(prog).ok_or_else(|| format!("{} not found", prog))? };
    let mut child = spawn(&prog, rest, Output::Pipe, Output::Null).map_err(|e| format!("{}: {}", prog.display(), e))?;
    let done = finish(&mut child, timeout, CAPTURE_MAX).map_err(|e| format!("{}: {}", prog.display(), e))?;
    match done.status {
        Some(st) if st.success() => Ok(String::from_utf8_lossy(&done.stdout).into_owned()),
        Some(st) => Err(format!("{} exited {}", prog.display(), st.code().unwrap_or(-1))),
        None => Err(format!("{} timed out", prog.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::libc;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn programs_are_found_on_the_path_or_in_sbin() {
        let sh = find_program("sh").expect("sh on PATH or in /bin");
        assert!(sh.is_file() && sh.ends_with("sh"), "{}", sh.display());
        assert_eq!(find_program("muros-ha-no-such-program"), None);
        // keepalived's minimal PATH may lack /usr/sbin; the usual directories are searched too.
        if Path::new("/usr/sbin/nft").is_file() || Path::new("/sbin/nft").is_file() {
            assert!(find_program("nft").is_some());
        }
    }

    fn run(args: &[&str], stdout: Output, stderr: Output) -> Finished {
        let mut child = spawn(Path::new("/bin/sh"), args, stdout, stderr).unwrap();
        finish(&mut child, Duration::from_secs(20), 1 << 20).unwrap()
    }

    fn text(b: &[u8]) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn arguments_arrive_unchanged_and_unsplit() {
        let f = run(&["-c", "printf '<%s>' \"$@\"", "sh", "a b", "", "$HOME;x", "ü"], Output::Pipe, Output::Null);
        assert_eq!(f.status.and_then(|s| s.code()), Some(0));
        assert_eq!(text(&f.stdout), "<a b><><$HOME;x><ü>");
    }

    #[test]
    fn stdout_and_stderr_are_separate_pipes_and_stdin_is_empty() {
        let f = run(&["-c", "cat; echo out; echo err >&2; exit 3"], Output::Pipe, Output::Pipe);
        assert_eq!(f.status.and_then(|s| s.code()), Some(3));
        assert_eq!((text(&f.stdout), text(&f.stderr)), ("out\n", "err\n"));
    }

    #[test]
    fn our_fds_stay_with_us_and_the_child_gets_default_sigpipe() {
        // An fd we hold open (std opens it O_CLOEXEC) must not leak into the child. (The
        // test harness may itself have inherited fds without close-on-exec; those pass.)
        let file = crate::fsutil::open(Path::new("/proc/self/status"), nix::fcntl::OFlag::O_RDONLY, 0).unwrap();
        // Well above anything ls opens for itself, so its number cannot be confused.
        let keep = nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(300)).unwrap();
        let f = run(&["-c", "ls /proc/self/fd | tr '\\n' ' '; grep SigIgn /proc/self/status"], Output::Pipe, Output::Null);
        let _ = nix::unistd::close(keep);
        assert!(f.status.is_some_and(|s| s.success()));
        let out = text(&f.stdout);
        let fds: Vec<i32> = out.split_ascii_whitespace().take_while(|w| !w.starts_with("SigIgn")).map(|w| w.parse().unwrap()).collect();
        assert!([0, 1, 2].iter().all(|f| fds.contains(f)), "child fds: {:?}", fds);
        assert!(!fds.contains(&keep), "fd {} leaked into the child: {:?}", keep, fds);
        let ign = out.split("SigIgn:").nth(1).unwrap().trim_ascii();
        let mask = u64::from_str_radix(ign, 16).unwrap();
        assert_eq!(mask & (1 << (libc::SIGPIPE - 1)), 0, "SIGPIPE ignored in the child: {}", ign);
    }

    #[test]
    fn the_deadline_kills_and_reaps() {
        let f = run(&["-c", "exit 4"], Output::Null, Output::Null);
        assert_eq!(f.status.and_then(|s| s.code()), Some(4));
        let mut slow = spawn(Path::new("/bin/sleep"), &["30"], Output::Null, Output::Pipe).unwrap();
        let t0 = Instant::now();
        let f = finish(&mut slow, Duration::from_millis(50), 100).unwrap();
        assert!(f.status.is_none());
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        // Killed and reaped: the status is known, nothing is left to wait for.
        assert_eq!(slow.try_wait().unwrap().and_then(|s| s.signal()), Some(libc::SIGKILL));
        assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(slow.id() as i32), None).is_err(), "the child is still there");
    }

    #[test]
    fn output_larger_than_a_pipe_is_read_while_the_child_runs() {
        // 1 MB on each pipe: with reads only after the exit, the child would block on a
        // full pipe and the deadline would kill it.
        let f = run(&["-c", "head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2"], Output::Pipe, Output::Pipe);
        assert!(f.status.is_some_and(|s| s.success()), "{:?}", f.status);
        assert_eq!((f.stdout.len(), f.stderr.len()), (1_000_000, 1_000_000));
        // Beyond the limit the output is read and dropped; the child still finishes.
        let mut child = spawn(Path::new("/bin/sh"), &["-c", "head -c 300000 /dev/zero"], Output::Pipe, Output::Null).unwrap();
        let f = finish(&mut child, Duration::from_secs(20), 1000).unwrap();
        assert!(f.status.is_some_and(|s| s.success()));
        assert_eq!(f.stdout.len(), 1000);
    }

    #[test]
    fn a_daemon_holding_the_pipe_does_not_hold_us() {
        // The background sleep inherits stdout and keeps it open for 10 s.
        let t0 = Instant::now();
        let f = run(&["-c", "echo started; sleep 10 & exit 0"], Output::Pipe, Output::Null);
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert_eq!(text(&f.stdout), "started\n");
    }

    #[test]
    fn a_missing_program_is_an_error_not_an_exit_code() {
        let e = spawn(Path::new("/nonexistent/muros-ha-test"), &[] as &[&str], Output::Null, Output::Null).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(run_capture(&["muros-ha-no-such-program".into()], Duration::from_secs(1)).is_err());
    }

    #[test]
    fn run_capture_returns_stdout_of_a_success_only() {
        let sh = |script: &str| run_capture(&["sh".into(), "-c".into(), script.into()], Duration::from_secs(10));
        assert_eq!(sh("echo hi; echo noise >&2"), Ok("hi\n".to_string()));
        assert!(sh("echo hi; exit 1").unwrap_err().ends_with("exited 1"));
        let e = run_capture(&["sleep".into(), "30".into()], Duration::from_millis(50)).unwrap_err();
        assert!(e.ends_with("timed out"), "{}", e);
    }
}
