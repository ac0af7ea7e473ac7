//! The promises of `unsafe(safe_fn)` and of `preset = unsafe(path)` are
//! printed for every form, so `unsafe_code` reports them: a callback type
//! without user data whose safe trampoline borrows C's pointer (glob's
//! errfunc), one whose fallback is a preset's `unsafe` block reading a
//! parameter, and a set whose entries take such a preset. In a
//! `#![forbid(unsafe_code)]` crate each is refused (a safe call of the
//! trampoline with a bogus pointer would reach UB otherwise).
#![forbid(unsafe_code)]

use ffi_callback::callback;
use ffi_callback_unsafe_macro::exported_fallback_reads_ctx;
use std::ffi::{CStr, c_char, c_int, c_void};

#[callback(unsafe(safe_fn))]
type Errfunc = extern "C" fn(#[into(&CStr)] path: *const c_char, errno: c_int) -> c_int;

#[callback(preset = unsafe(exported_fallback_reads_ctx))]
type Step = extern "C" fn(ctx: *const i32) -> c_int;

#[callback(preset = unsafe(exported_fallback_reads_ctx))]
trait Steps {
    unsafe extern "C" fn step(&mut self, ctx: *const i32, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {
    let _ = (Errfunc::new(|_: &CStr, _| 0), Step::new(|_| 0));
}
