use std::ffi::{c_int, c_void};

use ffi_callback::callback;

// `on_error` on a set serves the entries that return a `Result`: here none
// does, so it would never be used.
#[callback(on_error = -1)]
trait Events {
    unsafe extern "C" fn start(&mut self, #[user_data] ud: *mut c_void) -> c_int;
    unsafe extern "C" fn end(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {}
