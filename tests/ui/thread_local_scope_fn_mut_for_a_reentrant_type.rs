use ffi_callback::callback;
use std::ffi::c_int;

#[callback(reentrant)]
type Nest = unsafe extern "C" fn(depth: c_int) -> c_int;

fn main() {
    let mut calls = 0;
    Nest::scope_thread_local(
        |depth| {
            calls += 1;
            depth
        },
        |nest| unsafe { nest(0) },
    );
}
