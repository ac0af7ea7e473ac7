//! Another crate's preset holding `unsafe` (`unsafe(safe_fn)`, an
//! `unsafe { }` block reading a parameter): its promise is about this
//! crate's callbacks, so this crate writes it (`preset = unsafe(..)`), and
//! `unsafe_code` reports it here: a `#![forbid(unsafe_code)]` crate cannot
//! reach UB through an exported preset.
#![forbid(unsafe_code)]

use ffi_callback::callback;
use ffi_callback_unsafe_macro::{exported_reads_ctx, exported_safe_fn};
use std::ffi::{c_int, c_void};

#[callback(preset = unsafe(exported_safe_fn))]
extern "C" fn progress(done: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(done);
    0
}

#[callback(preset = unsafe(exported_reads_ctx))]
extern "C" fn step(ctx: *const i32) -> Result<i32, String> {
    let _ = ctx;
    Err("failed".to_owned())
}

fn main() {
    let _: extern "C" fn(c_int, *mut c_void) -> c_int = progress;
    let _ = step;
}
