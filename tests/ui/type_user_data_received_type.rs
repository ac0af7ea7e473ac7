use ffi_callback::callback;
use std::ffi::c_int;

#[callback]
type ExecRow = unsafe extern "C" fn(#[user_data] rows: &mut Vec<c_int>, n: c_int) -> c_int;

fn main() {}
