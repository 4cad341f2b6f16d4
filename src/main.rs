fn main() {
    std::process::exit(muros_ha::cli::main());
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
