use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
type Compare = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

fn main() {
    let keys = vec![3, 1, 2];
    let _ = Compare::new(move |_a, _b| keys[0]);
}
