//! The typed constructor only accepts the form the fn receives: a `&T` for
//! a callback that receives `&mut T` does not compile.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
extern "C" fn count(n: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(n);
    0
}

fn main() {
    let seen: Vec<c_int> = Vec::new();
    let _ud: *mut c_void = count::user_data(&seen);
}
