// `destroy` marks one entry point, not the set.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback(destroy)]
trait Stream {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    unsafe extern "C" fn close(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {}
