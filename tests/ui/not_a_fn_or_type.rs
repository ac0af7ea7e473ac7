use ffi_callback::callback;
use std::ffi::c_int;

#[callback]
struct Handler {
    code: c_int,
}

fn main() {}
