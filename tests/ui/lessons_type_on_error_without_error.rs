use ffi_callback::callback;
use std::ffi::{c_int, c_void};

// `on_error` reads `e`, whose type the callback type does not name.
#[callback(on_error = e.code())]
type ExecRow = unsafe extern "C" fn(#[user_data] arg: *mut c_void, n: c_int) -> c_int;

fn main() {}
