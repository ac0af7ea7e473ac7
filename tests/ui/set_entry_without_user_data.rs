// Each entry point finds the state through its user data: a `#[user_data]`
// parameter or `user_data = EXPR`.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Handlers {
    unsafe extern "C" fn start(&mut self, #[user_data] ud: *mut c_void, depth: c_int);
    unsafe extern "C" fn end(&mut self, ud: *mut c_void, depth: c_int);
}

fn main() {}
