use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[repr(C)]
pub struct Point {
    x: c_int,
    y: c_int,
}

#[callback]
type NextPoint = unsafe extern "C" fn(#[user_data] arg: *mut c_void) -> Point;

fn main() {}
