// The body is safe code even where another crate's macro expands to an
// unsafe operation without `unsafe` (rustc reports no lint for such code,
// so `unsafe_op_in_unsafe_fn` could not catch it): E0133, as in any safe fn.
#![forbid(unsafe_code)]
use ffi_callback::callback;
use std::ffi::c_int;

#[callback]
pub extern "C" fn sum(p: *const c_int, #[user_data] total: &mut c_int) -> c_int {
    let value: c_int = ffi_callback_unsafe_macro::read_ptr!(p);
    *total += value;
    0
}

fn main() {}
