use ffi_callback::callback;
use std::ffi::c_int;

#[callback]
type Visit = unsafe extern "C" fn(#[user_data] cookie: c_int, item: c_int) -> c_int;

fn main() {}
