use ffi_callback::callback;
use std::ffi::c_int;

#[repr(C)]
pub struct Point {
    x: c_int,
    y: c_int,
}

#[callback]
extern "C" fn next_point(#[user_data] state: &mut c_int) -> Point {
    *state += 1;
    Point { x: *state, y: 0 }
}

fn main() {}
