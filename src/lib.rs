//! muros-ha: high availability for OpenWrt routers.
//!
//! # Layout
//!
//! Folders are layers; data flows top to bottom and nothing below reaches up.
//!
//! | module | job |
//! |---|---|
//! | [`paths`] | every file, socket and script path, prefixed by `--root` so a lab router is a directory |
//! | [`logging`] | syslog on a router, stderr in labs and tests |
//! | [`fsutil`] | atomic, only-when-changed file replacement (temp in same dir, fsync, rename) |
//! | [`proc`] | start programs (std's `Command`: argument vector, stdin /dev/null, stdout/stderr null or piped); a wait with a deadline that reads the pipes meanwhile, kills and reaps; `run_capture` for probes |
//! | [`uci`] | UCI text ⇄ sections: a reader faithful to real uci and an editor that keeps unrelated lines |
//! | [`model`] | sections → validated, typed [`model::Config`]; collects *every* error with file, line, section, option |
//! | [`render`] | model → keepalived.conf, conntrackd.conf, fw4 nft snippet, sysupgrade lists; pure and deterministic |
//! | [`deploy`] | load → validate → render → verify with the real tools → replace every changed file, or none |
//! | [`ubus`] | ubus wire codec (pure), blobmsg ⇄ JSON ([`serde_json::Value`]), and a client over the unix socket |
//! | [`failover`] | transition + config → ordered plan (pure); executor runs it through the [`failover::System`] trait |
//! | [`daemon`] | the long-running `muros_ha` ubus object: one file per method |
//! | [`peer`] | the peer link: Noise-KK channel over the sync link, heartbeats, split brain, config + lease replication |
//! | [`json`] | reading our JSON records and messages through `serde_json::Value` |
//! | [`cli`] | command line front end (argh): `check`, `render`, `notify`, `plan`, `daemon` |
//!
//! JSON is serde_json: records of a fixed shape (status pieces, history lines, state
//! files, peer messages) derive `Serialize` and keep their field order, and are read
//! back through a `Value` with [`json::Obj`]'s typed getters (serde's derived readers
//! cost 2–6 KB per type on a router); dynamic data (ubus arguments and replies, blobmsg ⇄ JSON) is a `serde_json::Value`,
//! whose objects keep their keys sorted.
// unsafe only where neither std nor nix has a wrapper; each block says why it is sound.
// One is getrandom(2) in peer::noise::random: nix has no wrapper, and the getrandom
// crate would add its /dev/urandom fallback, which a kernel from 3.17 on never needs.
#![deny(unsafe_code)]

/// `println!` that ignores write errors: stdout closed early (`muros-ha --help | head -1`)
/// is no reason to panic, which kills a release binary (SIGILL with immediate-abort).
/// Defined before the modules, so every module has it in scope.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::logging::line(false, format_args!($($arg)*))
    };
}

/// `eprintln!` that ignores write errors, as [`outln!`] does.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::logging::line(true, format_args!($($arg)*))
    };
}

pub mod cli;
pub mod daemon;
pub mod deploy;
pub mod failover;
pub mod fsutil;
pub mod json;
pub mod logging;
pub mod model;
pub mod paths;
pub mod proc;
pub mod peer;
pub mod render;
pub mod ubus;
pub mod uci;

/// A decimal integer of ASCII digits only (no sign, no `+`, no blanks), or `None` when
/// it is none or does not fit: the one integer parser of the binary, where each
/// `str::parse::<T>` is a parser of its own (≈0.35 KB each on MIPS).
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| if b.is_ascii_digit() { n.checked_mul(10)?.checked_add(u64::from(b - b'0')) } else { None })
}

/// [`parse_u64`] with an optional leading `-`.
pub(crate) fn parse_i64(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(digits) => parse_u64(digits).and_then(|n| 0i64.checked_sub_unsigned(n)),
        None => parse_u64(s).and_then(|n| i64::try_from(n).ok()),
    }
}

/// `s` as a JSON string literal: how messages quote a value they got (for ordinary
/// text the same as `{:?}`, which the release binary does not format: `-Zfmt-debug=none`).
pub(crate) fn quoted(s: &str) -> String {
    // Serialising a `str` cannot fail; should it ever, the bare text still says what.
    serde_json::to_string(s).unwrap_or_else(|_| s.to_string())
}

/// A record's JSON text. serde_json fails only for maps with non-string keys or a
/// `Serialize` that errors, which none of our records have; the error still travels
/// (as an `io::Error`, what file writers return) rather than panic.
pub(crate) fn to_json_bytes<T: serde::Serialize + ?Sized>(v: &T) -> std::io::Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(std::io::Error::from)
}

/// A named thread running `f`. Every long-lived or background thread of the daemon
/// (peer link, its reload worker, hotplug worker, health rounds) starts through this one
/// function, so std's thread start-up code is generated once instead of once per closure
/// type (~1.5 KB each on a router).
pub(crate) fn spawn_named(name: &str, f: Box<dyn FnOnce() + Send>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(name.to_string()).spawn(f)
}

/// musl's `pthread_setname_np`, as std calls it (on the thread being named, from
/// `spawn_named`), without musl's own: that one formats a `/proc/self/task/N/comm` path
/// with `snprintf` for the case of naming *another* thread, and that one call links all
/// of musl's printf (its float formatting and the 128-bit float helpers with it, about
/// 12 KB on aarch64; nothing else in the binary uses printf). A symbol we define wins
/// over the archive member at static link time. The current thread is named with
/// `prctl(PR_SET_NAME)`, exactly what musl does for it; any other thread gets ENOTSUP,
/// which std never asks for.
#[cfg(all(target_env = "musl", target_os = "linux"))]
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn pthread_setname_np(thread: usize, name: *const std::ffi::c_char) -> i32 {
    extern "C" {
        fn pthread_self() -> usize;
    }
    // SAFETY: pthread_self has no preconditions; `name` is the NUL-terminated string the
    // caller (std's Thread::set_name) passes, valid for the call, as POSIX requires.
    let (me, name) = unsafe { (pthread_self(), std::ffi::CStr::from_ptr(name)) };
    if thread != me {
        return nix::errno::Errno::ENOTSUP as i32;
    }
    match nix::sys::prctl::set_name(name) {
        Ok(()) => 0,
        Err(e) => e as i32,
    }
}

/// A stable insertion sort for the short lists we order (config errors, edits, file and
/// package names): a few instructions per element type, where `slice::sort` compiles a
/// merge sort of ~0.6 KB for each (MIPS). Quadratic: only for lists of at most a few
/// thousand items.
pub(crate) fn sort_small<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// The crate version, printed by `--version` and reported by `status`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests;
