//! A set-wide `fallback = EXPR` must fit every entry: where it does not,
//! the error names the entry (by its return type, or, returning nothing,
//! by its name).
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

const STATUS_NO_MEMORY: c_int = 1;

#[callback(fallback = STATUS_NO_MEMORY)]
trait RasterSource {
    unsafe extern "C" fn acquire(&mut self, #[user_data] data: *mut c_void) -> *mut c_void;
    unsafe extern "C" fn release(&mut self, #[user_data] data: *mut c_void, surface: *mut c_void);
    unsafe extern "C" fn snapshot(&mut self, #[user_data] data: *mut c_void) -> c_int;
}

fn main() {}
