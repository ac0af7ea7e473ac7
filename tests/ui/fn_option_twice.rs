use ffi_callback::callback;
use std::ffi::c_int;

#[callback(fallback = -1, on_panic = fallback, fallback = 0)]
extern "C" fn on_event(code: c_int) -> c_int {
    code
}

fn main() {}
