use ffi_callback::callback;
use std::ffi::c_int;

#[callback(sync)]
extern "C" fn on_event(code: c_int, #[user_data] total: &mut c_int) {
    *total += code;
}

fn main() {}
