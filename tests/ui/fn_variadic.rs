use ffi_callback::callback;
use std::ffi::{c_char, c_int};

#[callback]
unsafe extern "C" fn log_line(format: *const c_char, args: ...) -> c_int {
    let _ = format;
    0
}

fn main() {}
