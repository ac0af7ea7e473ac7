// `fallback = EXPR`, `on_error = EXPR` and `user_data = EXPR` are safe code
// too, even when another crate's macro hides the unsafe operation.
#![forbid(unsafe_code)]
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback(fallback = ffi_callback_unsafe_macro::read_ptr!(p))]
pub extern "C" fn fallback_reads(p: *const c_int, #[user_data] _state: &mut c_int) -> c_int {
    0
}

#[callback(on_error = ffi_callback_unsafe_macro::read_ptr!(p))]
pub extern "C" fn on_error_reads(
    p: *const c_int,
    #[user_data] _state: &mut c_int,
) -> Result<c_int, String> {
    Ok(0)
}

#[callback(user_data = ffi_callback_unsafe_macro::read_ptr!(slot))]
pub extern "C" fn user_data_reads(slot: *const *mut c_void, #[user_data] state: &mut c_int) -> c_int {
    *state
}

fn main() {}
