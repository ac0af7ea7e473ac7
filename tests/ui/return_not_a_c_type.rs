// A callback returns a value to C, also after a panic or a refused call:
// `!` and `impl Trait` are not C return types (fn form, the `Ok` of a
// `Result`, a callback type, a set's entry point).
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
extern "C" fn never(#[user_data] _state: &mut c_int) -> ! {
    std::process::abort()
}

#[callback]
extern "C" fn opaque(#[user_data] state: &mut c_int) -> impl Copy {
    *state
}

#[callback]
extern "C" fn opaque_ok(#[user_data] state: &mut c_int) -> Result<impl Copy, String> {
    Ok(*state)
}

#[callback]
pub type Never = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> !;

#[callback]
pub trait Io {
    unsafe extern "C" fn close(&mut self, #[user_data] ud: *mut c_void) -> !;
}

fn main() {}
