use ffi_callback::callback;
use std::ffi::{c_int, c_void};

// A home-thread callback cannot also be called on other threads.
#[callback(local, send)]
type SourceFunc = unsafe extern "C" fn(#[user_data] data: *mut c_void) -> c_int;

fn main() {}
