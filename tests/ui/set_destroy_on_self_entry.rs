// `destroy` marks a `&mut self` (or `&self`) entry as the set's destroy; an
// entry taking `self` is the destroy already.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Stream {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    #[callback(destroy)]
    unsafe extern "C" fn close(self, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {}
