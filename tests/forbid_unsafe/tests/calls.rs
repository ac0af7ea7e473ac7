//! The callbacks of the `forbid(unsafe_code)` crate, called as C would
//! call them (from here, where `unsafe` is allowed).

use ffi_callback::resume_panics;
use ffi_callback_forbid_unsafe::callbacks::{
    ExecRow, add, context_data, handles, start, step, visit,
};
use std::ffi::c_void;

#[test]
fn generated_items_work() {
    assert_eq!(handles(), 6);
    assert_eq!(add(2, 3), 5);
    let mut seen: Vec<std::ffi::c_int> = Vec::new();
    let mut total = 0_i64;
    resume_panics(|| {
        // SAFETY: each user data is what the callback receives, alive for
        // the call.
        unsafe {
            assert_eq!(visit(7, visit::user_data(&mut seen)), 0);
            assert_eq!(step(step::user_data(&mut total)), 0);
            assert!(start(start::user_data(Box::new(1_u32))).is_null());
        }
    });
    assert_eq!(seen, [7]);
    assert_eq!(total, 1);
    assert!(context_data(std::ptr::null_mut::<c_void>()).is_null());
    let sum = ExecRow::scope(
        |n| n * 2,
        // SAFETY: the trampoline with its own user data.
        |f, ud| unsafe { f(ud, 21) },
    );
    assert_eq!(sum, 42);
}
