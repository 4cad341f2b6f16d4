//! Atomic file replacement.
//!
//! A live config is replaced only when its bytes change, and only by `rename(2)` of a
//! fully written and fsynced temp file in the same directory, so a crash or power cut
//! leaves either the old file or the new one — never half of each.
//!
//! Some targets sit in world-writable directories (the lease file and resolv.conf in
//! `/tmp`), where any local user can plant a file or a symlink at a name we are about
//! to use. So nothing here writes, truncates or chmods through a name that may be a
//! symlink: temp files get a random name and are created `O_EXCL|O_NOFOLLOW` (a planted
//! name makes us pick another, never follow it), their mode is set with `fchmod` on the
//! open descriptor, and the target is only ever inspected through an `O_NOFOLLOW`
//! descriptor and replaced by `rename(2)`, which replaces a planted symlink itself.

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Open `path` with `flags` (always close-on-exec, pitfall 5) and, when it creates the
/// file, permission bits `mode` (before the umask).
///
/// The binary opens every file here, never through `std::fs::File::open`,
/// `OpenOptions`, `fs::read*` or `fs::write`: std's open validates its options at run
/// time with errors built from strings, and those link `char::escape_debug` with its
/// Unicode tables (≈5 KB) for messages we can never cause.
pub fn open(path: &Path, flags: OFlag, mode: u32) -> io::Result<File> {
    Ok(File::from(nix::fcntl::open(path, flags | OFlag::O_CLOEXEC, Mode::from_bits_truncate(mode))?))
}

/// `std::fs::read`, through [`open`].
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    fn read(path: &Path) -> io::Result<Vec<u8>> {
        read_all(open(path, OFlag::O_RDONLY, 0)?.as_fd(), usize::MAX)
    }
    read(path.as_ref())
}

/// What `fd` gives until end of file (or `limit` bytes; the rest stays unread): files,
/// pipes and sockets through one loop, where std's `read_to_end` is compiled once per
/// reader type (≈1 KB each on MIPS). A read timeout on a socket ends it with
/// `WouldBlock`, as with std.
pub fn read_all(fd: BorrowedFd<'_>, limit: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let want = buf.len().min(limit - out.len());
        if want == 0 {
            return Ok(out);
        }
        match nix::unistd::read(fd, &mut buf[..want]) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// `std::fs::create_dir_all` (mode 0777 before the umask): mkdir(2), and the parents
/// first when one is missing.
pub fn create_dirs(dir: &Path) -> io::Result<()> {
    match nix::unistd::mkdir(dir, Mode::from_bits_truncate(0o777)) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EEXIST) if dir.is_dir() => Ok(()),
        Err(nix::errno::Errno::ENOENT) if dir.parent().is_some_and(|p| !p.as_os_str().is_empty()) => {
            create_dirs(dir.parent().unwrap_or(dir))?;
            match nix::unistd::mkdir(dir, Mode::from_bits_truncate(0o777)) {
                Err(nix::errno::Errno::EEXIST) if dir.is_dir() => Ok(()),
                r => r.map_err(io::Error::from),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// `std::fs::read_to_string`, through [`open`]; text that is not UTF-8 is `InvalidData`.
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|_| io::ErrorKind::InvalidData.into())
}

/// `std::fs::write` (create or truncate, mode 0666 before the umask), through [`open`].
pub fn write(path: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> io::Result<()> {
    fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
        create(path, 0o666)?.write_all(bytes)
    }
    write(path.as_ref(), bytes.as_ref())
}

/// Create or truncate `path` for writing; `mode` applies when it is created.
pub fn create(path: &Path, mode: u32) -> io::Result<File> {
    open(path, OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC, mode)
}

/// Create `path`, which must not exist yet (not even as a dangling symlink), for
/// writing, with exactly the permission bits `mode` (set on the descriptor, so the
/// umask does not narrow them and no other file is ever touched).
pub fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    let f = open(path, OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW, mode & 0o777)?;
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    Ok(f)
}

/// `path` opened read-only if it is a regular file and not a symlink (`O_NOFOLLOW`).
fn open_regular(path: &Path) -> Option<File> {
    let f = open(path, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK, 0).ok()?;
    f.metadata().ok()?.is_file().then_some(f)
}

/// A regular file (never through a symlink) of at most `limit` bytes: its bytes,
/// permission bits, owner and group; `None` for anything else.
pub fn read_regular(path: &Path, limit: usize) -> Option<(Vec<u8>, u32, u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let f = open_regular(path)?;
    let m = f.metadata().ok()?;
    if m.len() > limit as u64 {
        return None;
    }
    let bytes = read_all(f.as_fd(), limit + 1).ok().filter(|b| b.len() <= limit)?;
    Some((bytes, m.mode() & 0o7777, m.uid(), m.gid()))
}

/// Bytes and permission bits of `path` when it is a regular file (a symlink is not).
fn current(path: &Path) -> Option<(File, Vec<u8>, u32)> {
    let f = open_regular(path)?;
    let mode = f.metadata().ok()?.permissions().mode() & 0o7777;
    let bytes = read_all(f.as_fd(), usize::MAX).ok()?;
    Some((f, bytes, mode))
}

/// What [`replace_if_changed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The file already held these bytes (and mode); nothing was touched, mtime kept.
    Unchanged,
    /// The file was created or replaced.
    Written,
}

/// A fresh temp path beside `path` with 64 random bits in its name (from getrandom(2)),
/// so nobody can plant a file or symlink there in advance. Create it with
/// [`create_new`], which refuses a name that exists anyway.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut r = [0u8; 8];
    // Without randomness the name is still refused if taken (O_EXCL): only predictable.
    let _ = getrandom::fill(&mut r);
    path.with_file_name(format!(".{}.tmp.{:016x}", name, u64::from_ne_bytes(r)))
}

/// [`create_new`] on a fresh [`temp_path`] beside `target`, retried if the name is taken.
pub fn create_temp(target: &Path, mode: u32) -> io::Result<(PathBuf, File)> {
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..4 {
        let tmp = temp_path(target);
        match create_new(&tmp, mode) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Write `bytes` to `path` atomically with permission bits `mode`, unless the file
/// already holds exactly these bytes with this mode. Parent directories are created.
pub fn replace_if_changed(path: &Path, bytes: &[u8], mode: u32) -> io::Result<Outcome> {
    if let Some((f, old, old_mode)) = current(path) {
        if old == bytes && old_mode == mode {
            return Ok(Outcome::Unchanged);
        }
        if old == bytes {
            // fchmod on the descriptor we read: the file, never what a name points to.
            f.set_permissions(fs::Permissions::from_mode(mode))?;
            return Ok(Outcome::Written);
        }
    }
    write_atomic(path, bytes, mode)?;
    Ok(Outcome::Written)
}

/// Unconditionally replace `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let staged = stage(path, bytes, mode)?;
    let tmp = staged.tmp.clone();
    staged.commit().inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// True when `path` already holds exactly `bytes` with permission bits `mode`.
pub fn is_current(path: &Path, bytes: &[u8], mode: u32) -> bool {
    current(path).is_some_and(|(_, old, old_mode)| old == bytes && old_mode == mode)
}

/// A fully written, fsynced temp file waiting to be renamed over its target.
///
/// Staging every file of a change first and renaming them only when all are staged (and
/// verified) means a failure part-way leaves every live file as it was.
#[derive(Debug)]
pub struct Staged {
    pub tmp: PathBuf,
    pub target: PathBuf,
}

/// Write `bytes` to a new temp file beside `target` (created with `mode`, fsynced).
pub fn stage(target: &Path, bytes: &[u8], mode: u32) -> io::Result<Staged> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_dirs(&dir)?;
    let (tmp, mut f) = create_temp(target, mode)?;
    let result = f.write_all(bytes).and_then(|()| f.sync_all());
    match result {
        Ok(()) => Ok(Staged { tmp, target: target.to_path_buf() }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

impl Staged {
    /// Rename the temp file over the target and persist the directory entry.
    pub fn commit(self) -> io::Result<()> {
        fs::rename(&self.tmp, &self.target)?;
        if let Some(dir) = self.target.parent() {
            if let Ok(d) = open(dir, OFlag::O_RDONLY, 0) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
    /// Throw the temp file away; the target is untouched.
    pub fn discard(self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("muros-fsutil-{}-{}", tag, std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn read_all_reads_to_the_end_or_the_limit() {
        let d = tmpdir("readall");
        let p = d.join("big");
        let bytes: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&p, &bytes).unwrap();
        assert_eq!(read(&p).unwrap(), bytes, "more than one 4 KiB read");
        let f = File::open(&p).unwrap();
        assert_eq!(read_all(f.as_fd(), 5000).unwrap(), &bytes[..5000]);
        // A pipe: everything until the writer closes.
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, b"abc").unwrap();
        drop(w);
        assert_eq!(read_all(r.as_fd(), usize::MAX).unwrap(), b"abc");
        // A socket with nothing to read and a timeout ends in WouldBlock, as with std.
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_read_timeout(Some(std::time::Duration::from_millis(20))).unwrap();
        assert_eq!(read_all(a.as_fd(), 10).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn create_dirs_makes_the_parents_and_accepts_what_exists() {
        let d = tmpdir("mkdirs");
        let deep = d.join("a/b/c");
        create_dirs(&deep).unwrap();
        assert!(deep.is_dir());
        create_dirs(&deep).unwrap();
        create_dirs(&d.join("a")).unwrap();
        // A file in the way is an error, not success.
        fs::write(d.join("f"), b"").unwrap();
        assert!(create_dirs(&d.join("f")).is_err());
        assert!(create_dirs(&d.join("f/sub")).is_err());
        // Relative paths work too.
        let cwd_rel = Path::new("target/fsutil-mkdirs-test/x/y");
        let _ = fs::remove_dir_all("target/fsutil-mkdirs-test");
        create_dirs(cwd_rel).unwrap();
        assert!(cwd_rel.is_dir());
        fs::remove_dir_all("target/fsutil-mkdirs-test").unwrap();
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn unchanged_bytes_keep_the_mtime() {
        let d = tmpdir("mtime");
        let p = d.join("a/b.conf");
        assert_eq!(replace_if_changed(&p, b"x\n", 0o600).unwrap(), Outcome::Written);
        let m1 = fs::metadata(&p).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(replace_if_changed(&p, b"x\n", 0o600).unwrap(), Outcome::Unchanged);
        assert_eq!(fs::metadata(&p).unwrap().modified().unwrap(), m1);
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(replace_if_changed(&p, b"y\n", 0o600).unwrap(), Outcome::Written);
        assert_eq!(fs::read(&p).unwrap(), b"y\n");
        // no temp files left behind
        assert_eq!(fs::read_dir(d.join("a")).unwrap().count(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn open_read_write_behave_like_std_and_close_on_exec() {
        let d = tmpdir("open");
        let p = d.join("f");
        write(&p, "héllo\n").unwrap();
        assert_eq!(fs::read(&p).unwrap(), "héllo\n".as_bytes());
        assert_eq!(read_to_string(&p).unwrap(), "héllo\n");
        assert_eq!(read(&p).unwrap(), fs::read(&p).unwrap());
        // Like std: create with 0666 before the umask, truncate on rewrite.
        // Read the umask without setting it: other tests create files meanwhile.
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let umask = status.lines().find_map(|l| l.strip_prefix("Umask:")).map(|u| u32::from_str_radix(u.trim_ascii(), 8).unwrap()).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o666 & !umask);
        write(&p, b"x").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"x");
        // Every descriptor is close-on-exec (pitfall 5).
        let f = open(&p, OFlag::O_RDONLY, 0).unwrap();
        let fd_flags = nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(fd_flags & nix::libc::FD_CLOEXEC, 0);
        // create() applies its mode to a new file.
        create(&d.join("secret"), 0o600).unwrap();
        assert_eq!(fs::metadata(d.join("secret")).unwrap().permissions().mode() & 0o777, 0o600 & !umask);
        // Errors keep their kind; text that is not UTF-8 is InvalidData.
        assert_eq!(read(d.join("missing")).unwrap_err().kind(), io::ErrorKind::NotFound);
        fs::write(&p, [0xff, 0xfe]).unwrap();
        assert_eq!(read_to_string(&p).unwrap_err().kind(), io::ErrorKind::InvalidData);
        fs::remove_dir_all(&d).unwrap();
    }

    /// A local user in /tmp plants a symlink where the lease file (or its temp file)
    /// goes, pointing at a root-owned file. Nothing is written or chmodded through it.
    #[test]
    fn a_symlink_planted_at_the_target_or_the_temp_name_is_never_followed() {
        use std::os::unix::fs::symlink;
        let d = tmpdir("symlink");
        let victim = d.join("authorized_keys");
        fs::write(&victim, b"ssh-ed25519 AAAA admin\n").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
        let target = d.join("dhcp.leases");
        // Same bytes as the victim: the old code chmodded the victim to 0644 here.
        symlink(&victim, &target).unwrap();
        assert!(!is_current(&target, b"ssh-ed25519 AAAA admin\n", 0o600), "a symlink is never 'current'");
        assert_eq!(replace_if_changed(&target, b"ssh-ed25519 AAAA admin\n", 0o644).unwrap(), Outcome::Written);
        assert_eq!(fs::metadata(&victim).unwrap().permissions().mode() & 0o777, 0o600, "victim's mode untouched");
        assert!(!fs::symlink_metadata(&target).unwrap().file_type().is_symlink(), "the link itself was replaced");
        // Different bytes through a fresh link: the victim's bytes stay.
        fs::remove_file(&target).unwrap();
        symlink(&victim, &target).unwrap();
        replace_if_changed(&target, b"1795700000 02:00:00:00:00:09 192.0.2.50 x *\n", 0o644).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"ssh-ed25519 AAAA admin\n");
        assert_eq!(fs::read(&target).unwrap(), b"1795700000 02:00:00:00:00:09 192.0.2.50 x *\n");
        // A name planted in advance is refused by create_new, not followed (also dangling).
        let planted = d.join(".dhcp.leases.tmp.planted");
        symlink(d.join("nonexistent"), &planted).unwrap();
        assert_eq!(create_new(&planted, 0o644).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert!(!d.join("nonexistent").exists());
        symlink(&victim, d.join("link2")).unwrap();
        assert!(create_new(&d.join("link2"), 0o644).is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"ssh-ed25519 AAAA admin\n");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn temp_names_are_random_and_the_mode_is_exact() {
        let p = Path::new("/tmp/dhcp.leases");
        let (a, b) = (temp_path(p), temp_path(p));
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(".dhcp.leases.tmp.") && name.len() == ".dhcp.leases.tmp.".len() + 16, "{}", name);
        let d = tmpdir("mode");
        // 0640 even under a umask that would narrow it (fchmod on the descriptor).
        let (tmp, _f) = create_temp(&d.join("x"), 0o640).unwrap();
        assert_eq!(fs::metadata(&tmp).unwrap().permissions().mode() & 0o777, 0o640);
        fs::remove_dir_all(&d).unwrap();
    }
}
