use std::ffi::{c_int, c_void};

use ffi_callback::callback;

fn set_error(message: &str) -> c_int {
    let _ = message;
    -1
}

// `fallback` reads the reason as `why`; `failure` is `on_raise`'s.
#[callback(on_panic = fallback, fallback = set_error(&failure.message()))]
extern "C" fn visit(n: c_int, #[user_data] seen: &mut u32) -> c_int {
    *seen += 1;
    n
}

#[callback(on_panic = fallback, fallback = set_error(&failure.to_string()))]
type Visit = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

// Once on the set, not once per entry.
#[callback(on_panic = fallback, fallback = set_error(&failure.message()))]
trait Stream {
    unsafe extern "C" fn read(&mut self, n: c_int, #[user_data] ud: *mut c_void) -> c_int;
    unsafe extern "C" fn write(&mut self, n: c_int, #[user_data] ud: *mut c_void) -> c_int;
}

// A C parameter named `failure` is the parameter.
#[callback(on_panic = fallback, fallback = failure)]
extern "C" fn status(failure: c_int, #[user_data] seen: &mut u32) -> c_int {
    *seen += 1;
    failure
}

fn main() {}
