use ffi_callback::callback;
use std::ffi::c_int;

#[callback(on_panik = abort)]
extern "C" fn on_event(code: c_int) -> c_int {
    code
}

fn main() {}
