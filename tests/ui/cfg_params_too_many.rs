use ffi_callback::callback;
use std::ffi::c_int;

// Each condition doubles the copies the macro expands: four at most.
#[callback]
extern "C" fn five(
    #[cfg(unix)] _a: c_int,
    #[cfg(windows)] _b: c_int,
    #[cfg(debug_assertions)] _c: c_int,
    #[cfg(unix)] _again: c_int,
    #[cfg(target_pointer_width = "64")] _d: c_int,
    #[cfg(panic = "unwind")] _e: c_int,
) {
}

fn main() {}
