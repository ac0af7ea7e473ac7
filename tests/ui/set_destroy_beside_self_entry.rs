// A set has one destroy: an entry taking `self`, or one marked `destroy`,
// not both (in either order).
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait SelfFirst {
    unsafe extern "C" fn finalize(self, #[user_data] ud: *mut c_void);
    #[callback(destroy)]
    unsafe extern "C" fn close(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

#[callback]
trait MarkedFirst {
    #[callback(destroy)]
    unsafe extern "C" fn close(&mut self, #[user_data] ud: *mut c_void) -> c_int;
    unsafe extern "C" fn finalize(self, #[user_data] ud: *mut c_void);
}

fn main() {}
