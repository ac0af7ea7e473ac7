use ffi_callback::callback;
use std::ffi::c_int;

#[callback]
const extern "C" fn on_event(code: c_int) -> c_int {
    code
}

fn main() {}
