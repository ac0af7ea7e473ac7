use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
type OnName = unsafe extern "C" fn(#[user_data] arg: *mut c_void, name: String);

fn main() {}
