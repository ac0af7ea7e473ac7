//! `crate = path`: the runtime reached through a re-export, for crates that
//! wrap ffi-callback.
mod wrapper {
    pub use ffi_callback as runtime;
    pub use ffi_callback::callback;
}

use std::ffi::{c_int, c_void};
use wrapper::callback;

#[callback(crate = crate::wrapper::runtime)]
extern "C" fn visit(n: c_int, #[user_data] total: &mut c_int) {
    *total += n;
}

#[callback(crate = wrapper::runtime, fallback = -1)]
type Visit = unsafe extern "C" fn(#[user_data] data: *mut c_void, n: c_int) -> c_int;

#[callback(crate = ::ffi_callback)]
type Compare = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

fn main() {
    let mut total = 0;
    wrapper::runtime::resume_panics(|| unsafe {
        visit(2, wrapper::runtime::user_data(&mut total));
    });
    let result = Visit::scope(
        |n| {
            total += n;
            0
        },
        |f, ud| unsafe { f(ud, 3) },
    );
    assert_eq!((result, total), (0, 5));
    let _ = Compare::new(|_, _| 0).function();
}
