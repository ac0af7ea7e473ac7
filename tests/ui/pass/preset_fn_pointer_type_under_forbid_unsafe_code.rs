//! A preset without `unsafe(safe_fn)` or an `unsafe { }` block is no unsafe
//! code: its options may name an `unsafe` fn pointer type (which
//! `unsafe_code` does not report either) in a `#![forbid(unsafe_code)]`
//! crate, and its callbacks stay `unsafe extern "C" fn`s.
#![forbid(unsafe_code)]

use ffi_callback::callback;
use std::ffi::{c_int, c_void};

ffi_callback::preset! {
    /// No next handler after a panic.
    pub(crate) chain = (on_panic = fallback, fallback = None::<unsafe extern "C" fn(c_int) -> c_int>);
}

#[callback(preset = chain)]
extern "C" fn next(
    #[user_data] seen: &mut Vec<c_int>,
) -> Option<unsafe extern "C" fn(c_int) -> c_int> {
    seen.push(0);
    None
}

fn main() {
    let _: unsafe extern "C" fn(*mut c_void) -> Option<unsafe extern "C" fn(c_int) -> c_int> = next;
}
