// `unsafe(safe_fn)` promises that a safe trampoline's callers pass what it
// trusts: user data, or borrowed parameters. A callback type with neither
// trusts nothing, so the promise is refused as needless (with borrowed
// parameters it is what libc's `glob` errfunc needs: see c_glibc_more.rs).
use ffi_callback::callback;
use std::ffi::{c_char, c_int};

#[callback(unsafe(safe_fn))]
type Visit = extern "C" fn(path: *const c_char, errno: c_int) -> c_int;

fn main() {}
