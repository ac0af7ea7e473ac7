use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
type StartRoutine = extern "C" fn(#[user_data] arg: *mut c_void) -> *mut c_void;

fn main() {}
