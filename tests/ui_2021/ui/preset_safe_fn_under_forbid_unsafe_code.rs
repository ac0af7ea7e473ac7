//! Edition-2021 twin of tests/ui/preset_safe_fn_under_forbid_unsafe_code.rs.
//! A preset's `unsafe(safe_fn)` is a promise, as when written on the
//! callback (`soundness_safe_fn_under_forbid_unsafe_code.rs`): it trips
//! `unsafe_code` at the preset's `unsafe` and at each use's
//! `preset = unsafe(..)`, so a `#![forbid(unsafe_code)]` crate cannot make
//! it through a preset either, nor hide an `unsafe { }` block in a preset's
//! expression.
#![forbid(unsafe_code)]

use ffi_callback::callback;
use std::ffi::{c_int, c_void};

ffi_callback::preset! { pub(crate) my = (unsafe(safe_fn)) }

#[callback(preset = unsafe(my))]
extern "C" fn cb(n: c_int, #[user_data] s: &mut c_int) -> c_int {
    *s += n;
    *s
}

mod presets {
    ffi_callback::preset! {
        /// Declared in one module, used from another.
        pub(crate) git_callback = (fallback = -7, unsafe(safe_fn));
    }

    ffi_callback::preset! {
        /// An `unsafe { }` block in a preset's expression.
        pub(crate) reads = (fallback = unsafe { *std::ptr::NonNull::dangling().as_ptr() });
    }
}

mod callbacks {
    use ffi_callback::callback;
    use std::ffi::c_int;

    #[callback(preset = unsafe(crate::presets::git_callback))]
    pub(crate) extern "C" fn progress(done: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
        seen.push(done);
        0
    }

    #[callback(preset = unsafe(crate::presets::reads))]
    pub(crate) extern "C" fn checked(done: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
        seen.push(done);
        0
    }
}

fn main() {
    // Safe fn pointers, if the crate compiled.
    let _: extern "C" fn(c_int, *mut c_void) -> c_int = cb;
    let _: extern "C" fn(c_int, *mut c_void) -> c_int = callbacks::progress;
    let _: unsafe extern "C" fn(c_int, *mut c_void) -> c_int = callbacks::checked;
}
