use ffi_callback::callback;
use std::ffi::c_int;

// `on_error` is the value C gets for an `Err`, but this body cannot fail.
#[callback(on_error = -1)]
extern "C" fn on_row(n: c_int) -> c_int {
    n
}

fn main() {}
