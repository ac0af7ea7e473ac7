use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
type Visit = for<'a> unsafe extern "C" fn(#[user_data] arg: *mut c_void, name: &'a u8);

fn main() {}
