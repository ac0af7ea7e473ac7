// A callback type split for a `#[cfg]` on a parameter, with an error in its
// options: each copy's stub stays under its copy's `cfg`, so the error is
// reported once, alone (no `VisitFn` or `new` defined twice).
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback(reentrant, reentrant)]
type Visit = unsafe extern "C" fn(#[cfg(unix)] a: c_int, n: c_int, #[user_data] ud: *mut c_void) -> c_int;

fn main() {
    let _ = Visit::new(|a: c_int, n: c_int| a + n);
}
