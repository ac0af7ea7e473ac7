use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
type ExecRow = unsafe fn(#[user_data] arg: *mut c_void, n: c_int) -> c_int;

fn main() {}
