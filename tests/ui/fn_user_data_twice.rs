use ffi_callback::callback;
use std::ffi::c_int;

#[callback]
extern "C" fn compare(
    #[user_data] keys: &Vec<c_int>,
    a: c_int,
    #[user_data] b_keys: &Vec<c_int>,
) -> c_int {
    keys[a as usize] - b_keys[0]
}

fn main() {}
