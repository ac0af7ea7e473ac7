// A set entry's `fallback`, `on_error`, `on_continue`/`on_break`, `len` and
// `user_data` expressions are safe code, even when another crate's macro
// hides the unsafe operation (inside the `unsafe` trampoline only a lint,
// which rustc does not report there, would catch it).
#![forbid(unsafe_code)]
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
pub trait Reader {
    #[callback(fallback = ffi_callback_unsafe_macro::read_ptr!(err))]
    unsafe extern "C" fn read(
        &mut self,
        #[user_data] ud: *mut c_void,
        #[into(&mut [u8], len = ffi_callback_unsafe_macro::read_ptr!(lenp))] buf: *mut u8,
        lenp: *const usize,
        err: *const isize,
    ) -> isize;

    #[callback(fallback = -1, on_error = ffi_callback_unsafe_macro::read_ptr!(err))]
    unsafe extern "C" fn check(
        &mut self,
        #[user_data] ud: *mut c_void,
        err: *const c_int,
    ) -> Result<c_int, String>;

    #[callback(
        on_continue = ffi_callback_unsafe_macro::read_ptr!(yes),
        on_break = ffi_callback_unsafe_macro::read_ptr!(no)
    )]
    unsafe extern "C" fn step(
        &mut self,
        #[user_data] ud: *mut c_void,
        yes: *const c_int,
        no: *const c_int,
    ) -> c_int;

    #[callback(user_data = ffi_callback_unsafe_macro::read_ptr!(slot))]
    unsafe extern "C" fn fetch(&mut self, slot: *const *mut c_void) -> c_int;
}

fn main() {}
