//! Under `#![forbid(unsafe_code)]` the `unsafe` a user writes in a
//! callback is reported like any other, on the user's own tokens: a block
//! in a fn body, in `user_data = EXPR` and in `fallback = EXPR`, and
//! `#[unsafe(no_mangle)]`. (The expansion's own `unsafe` is not reported:
//! `tests/forbid_unsafe` compiles callbacks under the same forbid.)
#![forbid(unsafe_code)]

use ffi_callback::callback;
use std::ffi::{c_int, c_void};

fn last_code() -> c_int {
    -1
}

#[callback(fallback = unsafe { std::ptr::read(&7) })]
extern "C" fn step(n: c_int, #[user_data] total: &mut c_int) -> c_int {
    *total += unsafe { std::ptr::read(&n) };
    *total
}

#[callback(user_data = unsafe { std::ptr::read(&ctx) })]
type Visit = unsafe extern "C" fn(ctx: *mut c_void, n: c_int) -> c_int;

#[callback(fallback = last_code())]
#[unsafe(no_mangle)]
extern "C" fn exported(n: c_int, #[user_data] total: &mut c_int) -> c_int {
    *total += n;
    *total
}

fn main() {}
