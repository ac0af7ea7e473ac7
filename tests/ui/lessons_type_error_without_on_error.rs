use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[derive(Debug)]
struct RowError;

// `error = E` names what `on_error` reads, but there is no `on_error`.
#[callback(error = RowError)]
type ExecRow = unsafe extern "C" fn(#[user_data] arg: *mut c_void, n: c_int) -> c_int;

fn main() {}
