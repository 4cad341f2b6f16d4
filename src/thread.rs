//! Threads on pthreads directly: [`spawn`] for a named `'static` worker and [`parallel`]
//! for running borrowed jobs side by side.
//!
//! std's threads bring a handle registry, spawn hooks, output capture, the stack-overflow
//! bookkeeping map and scoped-thread accounting; the binary uses three threads in all
//! (the peer link, a child's waiter, the parallel steps of a transition) and none of
//! that. Dropping std's threads saved ≈10 KB on aarch64, ≈14 KB on mipsel. What std gave and callers rely on is
//! kept: a 2 MiB stack (musl's default is 128 KiB), the name the kernel shows, and every
//! borrowed job joined before [`parallel`] returns.
//!
//! A panic inside a thread started here cannot unwind into C: it aborts the process. The
//! release binary aborts on any panic anyway (`panic=immediate-abort`).

use nix::libc;
use std::ffi::{c_void, CStr};
use std::io;
use std::mem::MaybeUninit;

/// Same as std's default (`RUST_MIN_STACK`): address space, committed only when used.
const STACK_SIZE: usize = 2 << 20;

/// A running thread; [`JoinHandle::join`] waits for it and returns its result. Dropping
/// the handle detaches the thread.
#[derive(Debug)]
pub struct JoinHandle<T> {
    id: libc::pthread_t,
    joined: bool,
    result: std::marker::PhantomData<T>,
}

/// The closure and the thread's name travel to the new thread in one box.
struct Start<F> {
    f: F,
    name: Option<&'static CStr>,
}

#[allow(unsafe_code)]
extern "C" fn trampoline<F, T>(arg: *mut c_void) -> *mut c_void
where
    F: FnOnce() -> T,
{
    // SAFETY: `arg` is the `Box<Start<F>>` leaked by `start` for this thread alone.
    let start = unsafe { Box::from_raw(arg.cast::<Start<F>>()) };
    if let Some(name) = start.name {
        // Cosmetic (ps, top, /proc/PID/task/*/comm): failure is fine.
        let _ = nix::sys::prctl::set_name(name);
    }
    Box::into_raw(Box::new((start.f)())).cast()
}

/// Start `f` on a new thread called `name` (at most 15 bytes show).
#[allow(unsafe_code)]
pub fn spawn<F, T>(name: &'static CStr, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: F and T are 'static and Send, which is what running `f` on another thread
    // for an unbounded time requires.
    unsafe { start(Some(name), f) }
}

/// Create the pthread running `f`.
///
/// # Safety
/// `f` and its result move to another thread: unless they are `'static + Send`, the
/// caller must join the thread before anything `f` borrows goes away.
#[allow(unsafe_code)]
unsafe fn start<F, T>(name: Option<&'static CStr>, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T,
{
    let arg = Box::into_raw(Box::new(Start { f, name }));
    let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
    let mut id = MaybeUninit::<libc::pthread_t>::uninit();
    // SAFETY: the attribute object is initialised before use and destroyed after
    // pthread_create, which copies what it needs; `arg` is handed to exactly one thread,
    // or reclaimed here when none was created.
    let rc = unsafe {
        let rc = libc::pthread_attr_init(attr.as_mut_ptr());
        if rc != 0 {
            drop(Box::from_raw(arg));
            return Err(io::Error::from_raw_os_error(rc));
        }
        let mut rc = libc::pthread_attr_setstacksize(attr.as_mut_ptr(), STACK_SIZE);
        if rc == 0 {
            rc = libc::pthread_create(id.as_mut_ptr(), attr.as_ptr(), trampoline::<F, T>, arg.cast());
        }
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        if rc != 0 {
            drop(Box::from_raw(arg));
        }
        rc
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: pthread_create succeeded, so it wrote the id.
    Ok(JoinHandle { id: unsafe { id.assume_init() }, joined: false, result: std::marker::PhantomData })
}

impl<T> JoinHandle<T> {
    /// Wait for the thread and take what its closure returned.
    #[allow(unsafe_code)]
    pub fn join(mut self) -> T {
        self.joined = true;
        let mut ret: *mut c_void = std::ptr::null_mut();
        // SAFETY: the thread is joinable (created joinable, never detached or joined:
        // `join` consumes the handle). A non-zero result would mean a bug here; the result
        // pointer is then null and we abort rather than read it.
        let rc = unsafe { libc::pthread_join(self.id, &mut ret) };
        if rc != 0 || ret.is_null() {
            std::process::abort();
        }
        // SAFETY: the trampoline returned `Box<T>::into_raw` for this T.
        *unsafe { Box::from_raw(ret.cast::<T>()) }
    }
}

impl<T> Drop for JoinHandle<T> {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        if !self.joined {
            // SAFETY: joinable and not joined; detaching lets it free itself when done
            // (its boxed result then leaks, as a detached std thread's would be dropped
            // unread: only results of threads nobody waits for).
            unsafe { libc::pthread_detach(self.id) };
        }
    }
}

/// Run `job(item)` for every item, each on its own thread, and return the results in
/// item order. Every thread is joined before this returns. When a thread cannot be
/// created, that item runs on the calling thread instead: slower, never lost.
#[allow(unsafe_code)]
pub fn parallel<I, R>(items: &[I], job: &(dyn Fn(&I) -> R + Sync)) -> Vec<R>
where
    I: Sync,
    R: Send,
{
    /// Joins whatever was started, also when the caller unwinds (tests), so no thread
    /// outlives the borrows below.
    struct Joiner<R>(Vec<Option<JoinHandle<R>>>);
    impl<R> Drop for Joiner<R> {
        fn drop(&mut self) {
            for h in self.0.drain(..).flatten() {
                h.join();
            }
        }
    }
    let mut started: Joiner<R> = Joiner(Vec::with_capacity(items.len()));
    let mut inline: Vec<Option<R>> = Vec::with_capacity(items.len());
    for item in items {
        // SAFETY: `item` and `job` are borrowed for this call; `started` joins every
        // thread before the function returns or unwinds, so the borrows outlive them.
        match unsafe { start(None, move || job(item)) } {
            Ok(h) => {
                started.0.push(Some(h));
                inline.push(None);
            }
            Err(_) => {
                started.0.push(None);
                inline.push(Some(job(item)));
            }
        }
    }
    // Join in item order. The handles stay in `started` until joined, so whatever
    // happens here, no thread outlives this call.
    inline
        .into_iter()
        .enumerate()
        .map(|(i, r)| match started.0[i].take() {
            Some(h) => h.join(),
            None => r.unwrap_or_else(|| unreachable!("item {} has neither a thread nor a result", i)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn spawn_returns_the_closures_value_and_names_the_thread() {
        let h = spawn(c"muros-test", || {
            let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
            (comm.trim_ascii().to_string(), 6 * 7)
        })
        .unwrap();
        assert_eq!(h.join(), ("muros-test".to_string(), 42));
    }

    #[test]
    #[allow(unsafe_code)]
    fn the_stack_is_as_big_as_stds() {
        // glibc sizes thread stacks from RLIMIT_STACK and musl gives 128 KiB: ask the
        // thread what it actually got, then use a 1 MiB frame.
        let h = spawn(c"stack", || {
            let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
            let mut size = 0usize;
            // SAFETY: getattr_np initialises `attr` for the calling thread; it is read
            // once and destroyed.
            unsafe {
                assert_eq!(libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()), 0);
                libc::pthread_attr_getstacksize(attr.as_ptr(), &mut size);
                libc::pthread_attr_destroy(attr.as_mut_ptr());
            }
            let big = [7u8; 1 << 20];
            (size, std::hint::black_box(&big).iter().map(|&b| b as usize).sum::<usize>())
        })
        .unwrap();
        let (size, sum) = h.join();
        assert!(size >= STACK_SIZE, "thread stack {} bytes", size);
        assert_eq!(sum, 7 << 20);
    }

    #[test]
    fn parallel_runs_side_by_side_and_keeps_item_order() {
        // Each job waits (bounded) until all four have started: only possible when they
        // run at the same time. Run one after another, the first would see just itself.
        let arrived = AtomicUsize::new(0);
        let finished = AtomicUsize::new(0);
        let items: Vec<u64> = (0..4).collect();
        let out = parallel(&items, &|&i| {
            arrived.fetch_add(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(10);
            while arrived.load(Ordering::SeqCst) < 4 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            let saw = arrived.load(Ordering::SeqCst);
            finished.fetch_add(1, Ordering::SeqCst);
            (i * 10, saw)
        });
        assert_eq!(out.iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 10, 20, 30]);
        assert!(out.iter().all(|r| r.1 == 4), "jobs did not overlap: {:?}", out);
        assert_eq!(finished.load(Ordering::SeqCst), 4, "a job was still running after parallel returned");
    }

    #[test]
    fn parallel_of_nothing_is_nothing() {
        let out: Vec<u8> = parallel(&[] as &[u8], &|_| 1);
        assert!(out.is_empty());
    }
}
