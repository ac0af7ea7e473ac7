// A preset's `unsafe` promises something about each callback that uses it
// (only C calls its safe fn with user data made for it; `ctx` points at a
// live `i32`), which the crate that exports the preset cannot know: each
// use makes the promise, written `preset = unsafe(path)`. Without it the
// use is refused; with it, a preset without `unsafe` is.
use ffi_callback::callback;
use ffi_callback_unsafe_macro::{exported_plain, exported_reads_ctx, exported_safe_fn};
use std::ffi::{c_int, c_void};

#[callback(preset = exported_safe_fn)]
extern "C" fn progress(done: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(done);
    0
}

#[callback(preset = exported_reads_ctx)]
extern "C" fn step(ctx: *const i32) -> Result<i32, String> {
    let _ = ctx;
    Err("failed".to_owned())
}

#[callback(preset = unsafe(exported_plain))]
extern "C" fn plain(done: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(done);
    0
}

fn main() {
    let _: extern "C" fn(c_int, *mut c_void) -> c_int = progress;
    let _ = (step, plain);
}
