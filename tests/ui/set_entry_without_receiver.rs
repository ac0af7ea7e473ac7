// Each entry point reaches the state: `&mut self`, `&self` or `self`.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Handlers {
    unsafe extern "C" fn start(&mut self, #[user_data] ud: *mut c_void, depth: c_int);
    unsafe extern "C" fn end(#[user_data] ud: *mut c_void, depth: c_int);
}

fn main() {}
