// The alias's own name becomes the holder of the closures: the C
// function-pointer type needs another.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback(fn_type = Cmp)]
pub type Cmp = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

fn main() {}
