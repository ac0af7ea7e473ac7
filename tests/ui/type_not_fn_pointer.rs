use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
type Handler = *mut c_void;

fn main() {
    let _: Option<fn(c_int)> = None;
}
