use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
type Compare = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

fn main() {
    let key = 3;
    Compare::scope_thread_local(|a: *const c_void| key, |_compare| ());
}
