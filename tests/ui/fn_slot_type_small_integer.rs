use ffi_callback::callback;
use std::ffi::c_int;

#[callback]
extern "C" fn on_item(item: c_int, #[user_data(i32)] seen: &mut Vec<c_int>) -> c_int {
    seen.push(item);
    0
}

fn main() {}
