use ffi_callback::callback;
use std::ffi::{c_char, c_void};

#[callback]
type Log = unsafe extern "C" fn(#[user_data] arg: *mut c_void, format: *const c_char, ...);

fn main() {}
