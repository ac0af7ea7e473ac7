//! Another crate's presets, used as a binding's users would: the one
//! holding `unsafe` through `preset = unsafe(..)` (this crate's promise:
//! only C calls `progress`, with user data made for it; `ctx` points at a
//! live `i32`), the other plainly.
use ffi_callback::{callback, resume_panics, try_resume};
use ffi_callback_unsafe_macro::{
    exported_at_root, exported_plain, exported_reads_ctx, exported_safe_fn,
};
use std::ffi::{c_int, c_void};

#[callback(preset = unsafe(exported_safe_fn))]
extern "C" fn progress(done: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(done);
    0
}

#[callback(preset = unsafe(exported_reads_ctx))]
unsafe extern "C" fn step(ctx: *const i32, #[user_data] seen: &mut Vec<i32>) -> Result<i32, String> {
    seen.push(0);
    Err("failed".to_owned())
}

// The binding's blanket preset on callbacks without user data, whose
// `unsafe(safe_fn)` is needless there (not an error: the user never wrote
// it).
#[callback(preset = unsafe(exported_safe_fn))]
extern "C" fn no_data(n: c_int) -> c_int {
    n + 1
}

#[callback(preset = unsafe(exported_safe_fn))]
type NoData = extern "C" fn(n: c_int) -> c_int;

#[callback(preset = exported_plain)]
extern "C" fn plain(n: c_int) -> c_int {
    n
}

// Exported from the other crate's root.
#[callback(preset = exported_at_root)]
extern "C" fn rooted(n: c_int) -> c_int {
    n
}

fn main() {
    let cb: extern "C" fn(c_int, *mut c_void) -> c_int = progress;
    let mut seen = Vec::new();
    resume_panics(|| cb(3, progress::user_data(&mut seen)));
    assert_eq!(seen, [3]);

    let code = 42;
    let mut seen = Vec::new();
    let mut got = 0;
    let result = try_resume::<_, String>(|| {
        // SAFETY: `ctx` points at a live `i32`; the user data is made for `step`.
        got = unsafe { step(&code, step::user_data(&mut seen)) };
    });
    assert_eq!((got, result), (42, Err("failed".to_owned())));
    assert_eq!(plain(5), 5);
    assert_eq!(rooted(4), 4);
    assert_eq!(no_data(1), 2);
    assert_eq!(NoData::scope(|n| n * 3, |f| f(2)), 6);
}
