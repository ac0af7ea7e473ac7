use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
type Compare =
    unsafe extern "C" fn(#[user_data] a: *mut c_void, #[user_data] b: *mut c_void) -> i32;

fn main() {}
