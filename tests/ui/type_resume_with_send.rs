use ffi_callback::callback;
use std::ffi::c_void;

#[callback(send, on_panic = resume)]
type IdleFunc = unsafe extern "C" fn(#[user_data] data: *mut c_void) -> i32;

fn main() {}
