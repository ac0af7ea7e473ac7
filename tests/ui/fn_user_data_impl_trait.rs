// C passes back a pointer to one concrete type: `impl Trait` cannot be the
// user data's type (behind `&mut`, `&`, an `Option` or a `Box`); a generic
// parameter can.
use ffi_callback::callback;
use std::ffi::c_int;

#[callback]
extern "C" fn by_mut(#[user_data] _state: &mut impl Copy) -> c_int {
    0
}

#[callback]
extern "C" fn by_option_ref(#[user_data] _state: Option<&impl Copy>) -> c_int {
    0
}

#[callback]
extern "C" fn boxed(#[user_data] _state: Box<impl Copy>) -> c_int {
    0
}

fn main() {}
