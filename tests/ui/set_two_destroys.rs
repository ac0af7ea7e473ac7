// A set has one destroy: one entry point may take `self`.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Source {
    unsafe extern "C" fn dispatch(&mut self, #[user_data] ud: *mut c_void) -> c_int;
    unsafe extern "C" fn finalize(self, #[user_data] ud: *mut c_void);
    unsafe extern "C" fn close(self, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {}
