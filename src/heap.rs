//! The process heap: `malloc`, `free` and the rest of the C allocation interface, for
//! libc's own callers (getifaddrs, opendir, …) and for Rust's `System` allocator, which
//! calls them too.
//!
//! Why our own: the libc that zig links into the static router binaries brings a
//! general-purpose allocator (per-thread arenas, CPU counting through sched_getaffinity)
//! that costs about 9 KB of code on MIPS and 16 KiB of .bss. A daemon whose heap is a few
//! hundred KiB needs none of that. zig's libc exports its allocator as weak symbols so
//! that a program can replace it, and glibc documents the same for dynamic programs;
//! these strong definitions win on both.
//!
//! The design, small on purpose:
//! - every block starts with a header of two words (the natural alignment, `ALIGN`);
//! - requests up to `MAX_BLOCK` take a block of `MIN_BLOCK << k` bytes, carved from
//!   `CHUNK`-sized anonymous mappings and kept on a free list per class after `free`
//!   (never returned to the kernel: the daemon's heap has a steady size);
//! - larger requests are their own mapping, unmapped on `free`;
//! - a request for more than the natural alignment takes a block with room to align
//!   inside it, and its header points back at that block.
//!
//! One lock guards the classes; it is held for a few dozen instructions (a chunk's mmap
//! at most), so a waiter yields rather than sleeps. Nothing here allocates, and nothing
//! here is called from a signal handler (ours only write to a pipe).
#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, Ordering};
use nix::libc;

const WORD: usize = core::mem::size_of::<usize>();
/// What `malloc` guarantees (`max_align_t`): 8 bytes on the 32-bit routers, 16 on 64-bit.
pub const ALIGN: usize = 2 * WORD;
const HDR: usize = ALIGN;
const MIN_BLOCK: usize = 2 * HDR;
const MAX_BLOCK: usize = 4096;
const NCLASS: usize = (MAX_BLOCK / MIN_BLOCK).trailing_zeros() as usize + 1;
const CHUNK: usize = 64 * 1024;
const PAGE: usize = 4096;
/// Header word 0 of a block handed out by `aligned`; word 1 holds the enclosing pointer.
const ALIGNED: usize = usize::MAX;
// Header word 0 otherwise: a class index (< NCLASS) or a mapping's length (> MAX_BLOCK).

struct Classes {
    /// Free blocks per class, linked through header word 1.
    free: [*mut u8; NCLASS],
    /// The unused rest of the newest chunk.
    next: *mut u8,
    end: *mut u8,
}

struct Heap {
    busy: AtomicBool,
    classes: UnsafeCell<Classes>,
}

// The classes are only touched with `busy` held.
unsafe impl Sync for Heap {}

static HEAP: Heap = Heap {
    busy: AtomicBool::new(false),
    classes: UnsafeCell::new(Classes { free: [null_mut(); NCLASS], next: null_mut(), end: null_mut() }),
};

fn set_errno(e: i32) {
    // SAFETY: libc's per-thread errno.
    unsafe { *libc::__errno_location() = e };
}

fn map(len: usize) -> *mut u8 {
    // SAFETY: a fresh private anonymous mapping aliases nothing.
    let p = unsafe {
        libc::mmap(null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
    };
    if p == libc::MAP_FAILED {
        null_mut()
    } else {
        p.cast()
    }
}

/// Runs `f` on the classes with the lock held.
fn with_classes<R>(f: impl FnOnce(&mut Classes) -> R) -> R {
    while HEAP.busy.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        // SAFETY: no preconditions.
        unsafe { libc::sched_yield() };
    }
    // SAFETY: `busy` is ours until the store below.
    let r = f(unsafe { &mut *HEAP.classes.get() });
    HEAP.busy.store(false, Ordering::Release);
    r
}

/// A block of class `k` (its start, header included), or null when memory is out.
fn take(k: usize) -> *mut u8 {
    let size = MIN_BLOCK << k;
    with_classes(|c| {
        let head = c.free[k];
        if !head.is_null() {
            // SAFETY: a free block's header word 1 links the next one.
            c.free[k] = unsafe { *head.add(WORD).cast::<*mut u8>() };
            return head;
        }
        if (c.end as usize) - (c.next as usize) < size {
            // The rest of the old chunk (less than MAX_BLOCK) stays unused.
            let fresh = map(CHUNK);
            if fresh.is_null() {
                return fresh;
            }
            c.next = fresh;
            c.end = fresh.wrapping_add(CHUNK);
        }
        let b = c.next;
        c.next = b.wrapping_add(size);
        b
    })
}

fn header(p: *mut u8) -> *mut usize {
    p.wrapping_sub(HDR).cast()
}

/// `malloc(n)`.
pub fn alloc(n: usize) -> *mut u8 {
    let Some(need) = n.checked_add(HDR) else {
        set_errno(libc::ENOMEM);
        return null_mut();
    };
    let (block, word0) = if need <= MAX_BLOCK {
        let k = need.next_power_of_two().trailing_zeros().saturating_sub(MIN_BLOCK.trailing_zeros()) as usize;
        (take(k), k)
    } else {
        let len = need.checked_add(PAGE - 1).map_or(0, |l| l & !(PAGE - 1));
        (if len == 0 { null_mut() } else { map(len) }, len)
    };
    if block.is_null() {
        set_errno(libc::ENOMEM);
        return null_mut();
    }
    // SAFETY: the block is ours and at least MIN_BLOCK long.
    unsafe { block.cast::<usize>().write(word0) };
    block.wrapping_add(HDR)
}

/// `free(p)`.
///
/// # Safety
/// `p` is null or came from this module and is not used afterwards.
pub unsafe fn release(p: *mut u8) {
    if p.is_null() {
        return;
    }
    let h = header(p);
    let word0 = *h;
    if word0 == ALIGNED {
        release(*h.add(1) as *mut u8);
    } else if word0 < NCLASS {
        with_classes(|c| {
            *h.add(1) = c.free[word0] as usize;
            c.free[word0] = h.cast();
        });
    } else {
        libc::munmap(h.cast(), word0);
    }
}

/// `malloc_usable_size(p)`: what the block behind `p` can hold.
///
/// # Safety
/// `p` is null or a live pointer from this module.
pub unsafe fn usable(p: *mut u8) -> usize {
    if p.is_null() {
        return 0;
    }
    let h = header(p);
    match *h {
        ALIGNED => {
            let outer = *h.add(1) as *mut u8;
            usable(outer) - (p as usize - outer as usize)
        }
        k if k < NCLASS => (MIN_BLOCK << k) - HDR,
        len => len - HDR,
    }
}

/// `realloc(p, n)`: keeps the block while `n` fits (a mapping is given back when less
/// than half of it would be used); on failure `p` is untouched.
///
/// # Safety
/// As for [`release`].
pub unsafe fn resize(p: *mut u8, n: usize) -> *mut u8 {
    let have = usable(p);
    if !p.is_null() && n <= have && (have <= MAX_BLOCK || n > have / 2) {
        return p;
    }
    let q = alloc(n);
    if !q.is_null() && !p.is_null() {
        core::ptr::copy_nonoverlapping(p, q, have.min(n));
        release(p);
    }
    q
}

/// `calloc(count, size)`.
pub fn alloc_zeroed(count: usize, size: usize) -> *mut u8 {
    let Some(n) = count.checked_mul(size) else {
        set_errno(libc::ENOMEM);
        return null_mut();
    };
    let p = alloc(n);
    if !p.is_null() {
        // SAFETY: the block holds at least n bytes.
        unsafe { p.write_bytes(0, n) };
    }
    p
}

/// `aligned_alloc(align, n)`; null with EINVAL unless `align` is a power of two.
pub fn alloc_aligned(align: usize, n: usize) -> *mut u8 {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return null_mut();
    }
    if align <= ALIGN {
        return alloc(n);
    }
    let Some(outer) = n.checked_add(align + HDR).map(alloc) else {
        set_errno(libc::ENOMEM);
        return null_mut();
    };
    if outer.is_null() {
        return outer;
    }
    // Leaves room for a header between `outer` and `p`; `p + n` stays inside.
    let p = outer.wrapping_add((outer as usize + HDR).next_multiple_of(align) - outer as usize);
    let h = header(p);
    // SAFETY: both header words lie inside `outer`'s block.
    unsafe {
        h.write(ALIGNED);
        h.add(1).write(outer as usize);
    }
    p
}

/// The C interface. Not in the library's own unit tests, which run on the host's libc
/// and call the functions above directly.
#[cfg(not(test))]
mod c {
    use super::*;
    use libc::{c_int, c_void, size_t};

    #[no_mangle]
    pub unsafe extern "C" fn malloc(n: size_t) -> *mut c_void {
        alloc(n).cast()
    }
    #[no_mangle]
    pub unsafe extern "C" fn free(p: *mut c_void) {
        release(p.cast())
    }
    #[no_mangle]
    pub unsafe extern "C" fn calloc(count: size_t, size: size_t) -> *mut c_void {
        alloc_zeroed(count, size).cast()
    }
    #[no_mangle]
    pub unsafe extern "C" fn realloc(p: *mut c_void, n: size_t) -> *mut c_void {
        resize(p.cast(), n).cast()
    }
    #[no_mangle]
    pub unsafe extern "C" fn reallocarray(p: *mut c_void, count: size_t, size: size_t) -> *mut c_void {
        match count.checked_mul(size) {
            Some(n) => resize(p.cast(), n).cast(),
            None => {
                set_errno(libc::ENOMEM);
                null_mut()
            }
        }
    }
    #[no_mangle]
    pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> size_t {
        usable(p.cast())
    }
    #[no_mangle]
    pub unsafe extern "C" fn aligned_alloc(align: size_t, n: size_t) -> *mut c_void {
        alloc_aligned(align, n).cast()
    }
    #[no_mangle]
    pub unsafe extern "C" fn memalign(align: size_t, n: size_t) -> *mut c_void {
        alloc_aligned(align, n).cast()
    }
    #[no_mangle]
    pub unsafe extern "C" fn valloc(n: size_t) -> *mut c_void {
        alloc_aligned(PAGE, n).cast()
    }
    #[no_mangle]
    pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: size_t, n: size_t) -> c_int {
        if align % WORD != 0 || !align.is_power_of_two() {
            return libc::EINVAL;
        }
        let p = alloc_aligned(align, n);
        if p.is_null() {
            return libc::ENOMEM;
        }
        *out = p.cast();
        0
    }
}

#[cfg(test)]
mod tests;
