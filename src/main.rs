fn main() {
    std::process::exit(muros_ha::cli::main());
}

/// std names every spawned thread with `pthread_setname_np`. musl's version builds a
/// `/proc/self/task/<tid>/comm` path with `snprintf`, which is the only user of printf in
/// the static binary and links all of it (printf_core, vfprintf, stdio: ~9 KB on aarch64,
/// ~12 KB on mipsel). std only ever names the thread it runs on, which `prctl(PR_SET_NAME)`
/// does without a path; naming another thread is refused (`ENOSYS`), which callers of
/// this cosmetic call already tolerate. Static musl builds only: the linker then takes
/// this definition and never pulls musl's object.
#[cfg(all(target_os = "linux", target_env = "musl"))]
#[no_mangle]
pub extern "C" fn pthread_setname_np(thread: nix::libc::pthread_t, name: *const nix::libc::c_char) -> nix::libc::c_int {
    use nix::libc;
    // SAFETY: pthread_self/pthread_equal have no preconditions; prctl(PR_SET_NAME) reads
    // at most 16 bytes of the NUL-terminated name std passes (it truncates it itself).
    unsafe {
        if libc::pthread_equal(thread, libc::pthread_self()) == 0 {
            return libc::ENOSYS;
        }
        if libc::prctl(libc::PR_SET_NAME, name as libc::c_ulong, 0, 0, 0) != 0 {
            return *libc::__errno_location();
        }
    }
    0
}

/// ARM EHABI personality routines. zig's musl objects carry `.ARM.exidx` entries that
/// name them, which made the linker pull libunwind's EHABI unwinder, and through its
/// debug logging all of printf (~9 KB). Nothing in this binary unwinds (panics abort
/// immediately, C code does not throw), so an unwinder asking a frame to unwind is a bug:
/// abort.
#[cfg(all(target_arch = "arm", target_env = "musl"))]
#[no_mangle]
pub extern "C" fn __aeabi_unwind_cpp_pr0() -> ! {
    std::process::abort()
}
#[cfg(all(target_arch = "arm", target_env = "musl"))]
#[no_mangle]
pub extern "C" fn __aeabi_unwind_cpp_pr1() -> ! {
    std::process::abort()
}
#[cfg(all(target_arch = "arm", target_env = "musl"))]
#[no_mangle]
pub extern "C" fn __aeabi_unwind_cpp_pr2() -> ! {
    std::process::abort()
}
