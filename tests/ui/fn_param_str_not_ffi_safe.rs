use ffi_callback::callback;
use std::ffi::c_int;

#[callback]
extern "C" fn on_name(name: &str, #[user_data] count: &mut c_int) {
    let _ = name;
    *count += 1;
}

fn main() {}
