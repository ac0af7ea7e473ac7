// `destroy` is an option of a set's entry points only, and takes no value.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback(destroy)]
extern "C" fn notify(#[user_data] count: &mut u32) {
    *count += 1;
}

#[callback(destroy)]
type Visit = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[callback]
trait Stream {
    #[callback(destroy = true)]
    unsafe extern "C" fn close(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {}
