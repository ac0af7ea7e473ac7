// A malformed option does not hide the others: each is reported, and the
// well-formed ones still count (`error = Vec<u8>` is a type; `fn_type`
// takes a name).
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback(fallback = , on_panic = abrt, fn_type = Vec<u8>, error = Vec<u8>)]
pub type Visit = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

fn main() {}
