use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
type Visit<T> = unsafe extern "C" fn(#[user_data] arg: *mut c_void, item: *const T);

fn main() {}
