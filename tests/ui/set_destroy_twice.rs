// A set has one destroy: `destroy` marks one entry point.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Source {
    unsafe extern "C" fn dispatch(&mut self, #[user_data] ud: *mut c_void) -> c_int;
    #[callback(destroy)]
    unsafe extern "C" fn finalize(&mut self, #[user_data] ud: *mut c_void);
    #[callback(destroy, fallback = -1)]
    unsafe extern "C" fn close(&self, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {}
