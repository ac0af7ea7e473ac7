use ffi_callback::callback;
use std::ffi::c_int;

#[callback]
extern "C" fn on_line(number: c_int, #[user_data] prefix: &str) -> c_int {
    println!("{prefix}{number}");
    0
}

fn main() {}
