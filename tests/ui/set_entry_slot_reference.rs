// A set entry's `#[user_data]` parameter is the C slot, as the header
// declares it: the method gets the state as `self`, so a Rust reference in
// the slot is a mix-up with the fn form.
use ffi_callback::callback;
use std::ffi::c_int;

#[callback]
trait Events {
    unsafe extern "C" fn event(&mut self, #[user_data] rows: &mut Vec<c_int>, code: c_int) -> c_int;
}

fn main() {}
