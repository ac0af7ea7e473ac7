use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
type Nested = unsafe extern "C" fn(#[cfg_attr(unix, cfg(windows))] n: c_int, #[user_data] ud: *mut c_void);

fn main() {}
