use ffi_callback::callback;
use std::ffi::c_int;

#[callback(on_panic = unwind, reentrant)]
async extern "C" fn on_item(
    item: c_int,
    #[user_data] seen: &mut Vec<c_int>,
    #[user_data] again: &mut Vec<c_int>,
) -> c_int {
    seen.push(item);
    again.push(item);
    0
}

fn main() {}
