use ffi_callback::callback;
use std::ffi::{CStr, c_char, c_int};

#[callback]
type Visit = unsafe extern "C" fn(#[into(&CStr)] path: *const c_char, depth: c_int) -> c_int;

fn main() {
    // The path is borrowed for the call: keeping it past the call is an error.
    let mut paths: Vec<&CStr> = Vec::new();
    Visit::scope_thread_local(
        |path, _depth| {
            paths.push(path);
            0
        },
        |_visit| (),
    );
}
