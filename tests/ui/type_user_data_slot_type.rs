use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
type WndEnum =
    unsafe extern "system" fn(hwnd: *mut c_void, #[user_data(isize)] lparam: isize) -> i32;

fn main() {}
