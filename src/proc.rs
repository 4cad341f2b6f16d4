//! Starting programs: posix_spawn(3) with an argument vector (never a shell), stdin on
//! /dev/null, stdout and stderr each either /dev/null or a pipe back to us.
//!
//! This replaces `std::process::Command`, which carries a general environment map,
//! fork/exec fallbacks and pidfd support we never use (19 KB on aarch64, 28 KB on
//! mipsel). What std's Command guaranteed and callers rely on is kept: the child gets
//! only fds 0–2 (every fd we open is `O_CLOEXEC`, pitfall 5), an empty signal mask and
//! the default SIGPIPE disposition (std ignores SIGPIPE in our own process), our
//! environment, and a failed exec is an error from [`spawn`], not an exit code 127.
//!
//! The only unsafe code is the libc calls in [`spawn`]; everything else goes through nix.

use nix::libc;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where a child's stdout or stderr goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Null,
    Pipe,
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    /// The exit code; `None` when a signal ended the child.
    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Code(c) => Some(c),
            ExitStatus::Signal(_) => None,
        }
    }
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

/// A started child. Like std's, dropping it neither waits nor kills: whoever spawns a
/// child reaps it ([`Child::wait`]).
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    reaped: Option<ExitStatus>,
    /// The read end of the child's stdout, when it was [`Output::Pipe`].
    pub stdout: Option<File>,
    /// The read end of the child's stderr, when it was [`Output::Pipe`].
    pub stderr: Option<File>,
}

impl Child {
    pub fn id(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// Block until the child ends (once reaped, the same status again).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.reap(None).map(|s| s.expect("a blocking waitpid returns a status"))
    }

    /// The status if the child has ended, else `None`, without blocking.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.reap(Some(WaitPidFlag::WNOHANG))
    }

    /// SIGKILL, unless the child was already reaped (its pid may belong to another
    /// process by now).
    pub fn kill(&mut self) {
        if self.reaped.is_none() {
            let _ = kill(self.pid, Signal::SIGKILL);
        }
    }

    /// Wait at most `timeout` for the child, checking every `poll`. When it is still
    /// running then, kill and reap it and return `None`.
    pub fn wait_timeout(&mut self, timeout: Duration, poll: Duration) -> io::Result<Option<ExitStatus>> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.try_wait()? {
                return Ok(Some(st));
            }
            if start.elapsed() > timeout {
                self.kill();
                let _ = self.wait();
                return Ok(None);
            }
            std::thread::sleep(poll);
        }
    }

    fn reap(&mut self, flags: Option<WaitPidFlag>) -> io::Result<Option<ExitStatus>> {
        if let Some(st) = self.reaped {
            return Ok(Some(st));
        }
        loop {
            let st = match waitpid(self.pid, flags) {
                Ok(WaitStatus::Exited(_, code)) => ExitStatus::Code(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => ExitStatus::Signal(sig as i32),
                // WNOHANG and still running (or stopped/continued, which we did not ask for).
                Ok(_) => return Ok(None),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            self.reaped = Some(st);
            return Ok(Some(st));
        }
    }
}

extern "C" {
    // Declared by the libc crate for glibc only; musl has it too.
    static environ: *const *mut libc::c_char;
}

/// An environment variable, as bytes: libc's getenv. Nothing in muros-ha changes its
/// environment, so no lock is needed; std's `env::var` takes one and copies through a C
/// string (≈1 KB of the MIPS binary for three lookups).
#[allow(unsafe_code)]
pub fn env(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: getenv returns null or a NUL-terminated string in the environment block,
    // which lives as long as the process and which this process never modifies.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    // SAFETY: as above, a valid C string.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// `name` on the PATH, then in /usr/sbin, /usr/bin, /sbin and /bin: keepalived runs its
/// hook with a minimal PATH, and keepalived, conntrackd and nft live in /usr/sbin.
pub fn find_program(name: &str) -> Option<std::path::PathBuf> {
    let path = env(c"PATH").unwrap_or_default();
    let listed = path.split(|&b| b == b':').map(|d| Path::new(OsStr::from_bytes(if d.is_empty() { b"." } else { d })));
    let usual = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].into_iter().map(Path::new);
    listed.chain(usual).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Start `program` (a path: no PATH search) with `args`, stdin from /dev/null.
#[allow(unsafe_code)]
pub fn spawn(program: &Path, args: &[&OsStr], stdout: Output, stderr: Output) -> io::Result<Child> {
    let path = CString::new(program.as_os_str().as_bytes())?;
    let mut owned = Vec::with_capacity(args.len() + 1);
    owned.push(path.clone());
    for a in args {
        owned.push(CString::new(a.as_bytes())?);
    }
    let mut argv: Vec<*mut libc::c_char> = owned.iter().map(|c| c.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let out_pipe = pipe_for(stdout)?;
    let err_pipe = pipe_for(stderr)?;

    let mut pid: libc::pid_t = 0;
    // SAFETY: the file actions and attributes are initialised before use and destroyed
    // on every path (the guards); every pointer handed to posix_spawn (path, argv and its
    // strings, "/dev/null", environ) is NUL-terminated and outlives the call; the pipe
    // fds stay open (owned by out_pipe/err_pipe) until after it.
    let rc = unsafe {
        let mut fa = MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
        errno(libc::posix_spawn_file_actions_init(fa.as_mut_ptr()))?;
        let mut fa = FileActions(fa.assume_init());
        let null = c"/dev/null".as_ptr();
        errno(libc::posix_spawn_file_actions_addopen(fa.ptr(), 0, null, libc::O_RDONLY, 0))?;
        for (target, pipe) in [(1, &out_pipe), (2, &err_pipe)] {
            match pipe {
                // dup2 clears O_CLOEXEC on the copy (musl also when the fds are equal).
                Some((_, write)) => errno(libc::posix_spawn_file_actions_adddup2(fa.ptr(), write.as_raw_fd(), target))?,
                None => errno(libc::posix_spawn_file_actions_addopen(fa.ptr(), target, null, libc::O_WRONLY, 0))?,
            }
        }
        let mut attr = MaybeUninit::<libc::posix_spawnattr_t>::uninit();
        errno(libc::posix_spawnattr_init(attr.as_mut_ptr()))?;
        let mut attr = Attr(attr.assume_init());
        let mut none = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(none.as_mut_ptr());
        let none = none.assume_init();
        let mut pipe_only = none;
        libc::sigaddset(&mut pipe_only, libc::SIGPIPE);
        errno(libc::posix_spawnattr_setsigmask(attr.ptr(), &none))?;
        errno(libc::posix_spawnattr_setsigdefault(attr.ptr(), &pipe_only))?;
        errno(libc::posix_spawnattr_setflags(attr.ptr(), (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short))?;
        libc::posix_spawn(&mut pid, path.as_ptr(), fa.ptr(), attr.ptr(), argv.as_ptr(), environ)
    };
    errno(rc)?;
    // Our copies of the write ends close here, so the reader sees EOF when the child
    // (and whatever inherited them from it) is done.
    Ok(Child { pid: Pid::from_raw(pid), reaped: None, stdout: out_pipe.map(|(r, _)| File::from(r)), stderr: err_pipe.map(|(r, _)| File::from(r)) })
}

/// A close-on-exec pipe (read, write) when the output is to be captured.
fn pipe_for(o: Output) -> io::Result<Option<(OwnedFd, OwnedFd)>> {
    match o {
        Output::Null => Ok(None),
        Output::Pipe => Ok(Some(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)),
    }
}

/// posix_spawn and its helpers return an errno value instead of setting errno.
fn errno(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

struct FileActions(libc::posix_spawn_file_actions_t);
impl FileActions {
    fn ptr(&mut self) -> *mut libc::posix_spawn_file_actions_t {
        &mut self.0
    }
}
impl Drop for FileActions {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: initialised by posix_spawn_file_actions_init, destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

struct Attr(libc::posix_spawnattr_t);
impl Attr {
    fn ptr(&mut self) -> *mut libc::posix_spawnattr_t {
        &mut self.0
    }
}
impl Drop for Attr {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: initialised by posix_spawnattr_init, destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn env_reads_what_std_reads_and_programs_are_found_on_the_path_or_in_sbin() {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(env(c"PATH"), std::env::var_os("PATH").as_deref().map(|p| p.as_bytes()));
        assert_eq!(env(c"MUROS_HA_NO_SUCH_VARIABLE"), None);
        let sh = find_program("sh").expect("sh on PATH or in /bin");
        assert!(sh.is_file() && sh.ends_with("sh"), "{}", sh.display());
        assert_eq!(find_program("muros-ha-no-such-program"), None);
        // keepalived's minimal PATH may lack /usr/sbin; the usual directories are searched too.
        if std::path::Path::new("/usr/sbin/nft").is_file() || std::path::Path::new("/sbin/nft").is_file() {
            assert!(find_program("nft").is_some());
        }
    }

    fn run(program: &str, args: &[&str], stdout: Output, stderr: Output) -> (ExitStatus, String, String) {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        let mut child = spawn(Path::new(program), &args, stdout, stderr).unwrap();
        let st = child.wait().unwrap();
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut f) = child.stdout.take() {
            f.read_to_string(&mut out).unwrap();
        }
        if let Some(mut f) = child.stderr.take() {
            f.read_to_string(&mut err).unwrap();
        }
        (st, out, err)
    }

    #[test]
    fn arguments_arrive_unchanged_and_unsplit() {
        let (st, out, _) = run("/bin/sh", &["-c", "printf '<%s>' \"$@\"", "sh", "a b", "", "$HOME;x", "ü"], Output::Pipe, Output::Null);
        assert_eq!(st, ExitStatus::Code(0));
        assert_eq!(out, "<a b><><$HOME;x><ü>");
    }

    #[test]
    fn stdout_and_stderr_are_separate_pipes_and_stdin_is_empty() {
        let (st, out, err) = run("/bin/sh", &["-c", "cat; echo out; echo err >&2; exit 3"], Output::Pipe, Output::Pipe);
        assert_eq!(st.code(), Some(3));
        assert!(!st.success());
        assert_eq!(out, "out\n");
        assert_eq!(err, "err\n");
    }

    #[test]
    fn our_fds_stay_with_us_and_the_child_gets_default_sigpipe() {
        // An fd we hold open (std opens it O_CLOEXEC) must not leak into the child. (The
        // test harness may itself have inherited fds without close-on-exec; those pass.)
        let file = File::open("/proc/self/status").unwrap();
        // Well above anything ls opens for itself, so its number cannot be confused.
        let keep = nix::fcntl::fcntl(file.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(300)).unwrap();
        let (st, out, _) = run("/bin/sh", &["-c", "ls /proc/self/fd | tr '\\n' ' '; grep SigIgn /proc/self/status"], Output::Pipe, Output::Null);
        assert!(st.success());
        let fds: Vec<i32> = out.split_ascii_whitespace().take_while(|w| !w.starts_with("SigIgn")).map(|w| w.parse().unwrap()).collect();
        assert!([0, 1, 2].iter().all(|f| fds.contains(f)), "child fds: {:?}", fds);
        assert!(!fds.contains(&keep), "fd {} leaked into the child: {:?}", keep, fds);
        let _ = nix::unistd::close(keep);
        let ign = out.split("SigIgn:").nth(1).unwrap().trim_ascii();
        let mask = u64::from_str_radix(ign, 16).unwrap();
        assert_eq!(mask & (1 << (libc::SIGPIPE - 1)), 0, "SIGPIPE ignored in the child: {}", ign);
    }

    #[test]
    fn wait_timeout_returns_the_status_or_kills_and_reaps() {
        let mut quick = spawn(Path::new("/bin/sh"), &[OsStr::new("-c"), OsStr::new("exit 4")], Output::Null, Output::Null).unwrap();
        assert_eq!(quick.wait_timeout(Duration::from_secs(10), Duration::from_millis(1)).unwrap(), Some(ExitStatus::Code(4)));
        let mut slow = spawn(Path::new("/bin/sleep"), &[OsStr::new("30")], Output::Null, Output::Null).unwrap();
        assert_eq!(slow.wait_timeout(Duration::from_millis(50), Duration::from_millis(5)).unwrap(), None);
        // Killed and reaped: the status is known, nothing is left to wait for.
        assert_eq!(slow.try_wait().unwrap(), Some(ExitStatus::Signal(libc::SIGKILL)));
        assert!(nix::sys::signal::kill(slow.pid, None).is_err(), "the child is still there");
    }

    #[test]
    fn a_missing_program_is_an_error_not_an_exit_code() {
        let e = spawn(Path::new("/nonexistent/muros-ha-test"), &[], Output::Null, Output::Null).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_signal_is_reported_and_kill_after_reaping_is_harmless() {
        let mut child = spawn(Path::new("/bin/sleep"), &[OsStr::new("5")], Output::Null, Output::Null).unwrap();
        assert_eq!(child.try_wait().unwrap(), None);
        child.kill();
        let st = child.wait().unwrap();
        assert_eq!(st, ExitStatus::Signal(libc::SIGKILL));
        assert_eq!(st.code(), None);
        child.kill();
        assert_eq!(child.try_wait().unwrap(), Some(st));
    }
}
