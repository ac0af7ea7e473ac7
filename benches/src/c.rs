//! The C side: glibc's `qsort_r`/`qsort`, and a C-ABI function that takes a
//! callback and never calls it (for the setup and teardown cost).
//!
//! The wrappers are `#[inline(never)]` so that callgrind can collect exactly
//! the C call (`--toggle-collect='ffi_callback_benches::c::*'`), whatever
//! the variant does before and after it.

use std::ffi::{c_int, c_void};
use std::hint::black_box;

/// A `qsort_r` comparator.
pub type CmpR = unsafe extern "C" fn(*const c_void, *const c_void, *mut c_void) -> c_int;
/// A `qsort` comparator.
pub type Cmp = unsafe extern "C" fn(*const c_void, *const c_void) -> c_int;

/// glibc `qsort_r` over `data`.
///
/// # Safety
/// `cmp` may be called with two pointers into `data` and `user_data`, until
/// this returns.
#[inline(never)]
pub unsafe fn qsort_r(data: &mut [u32], cmp: CmpR, user_data: *mut c_void) {
    // SAFETY: `data` is a live, aligned `u32` array of `data.len()` elements;
    // `cmp` and `user_data` are the caller's promise.
    unsafe {
        libc::qsort_r(
            data.as_mut_ptr().cast(),
            data.len(),
            size_of::<u32>(),
            Some(cmp),
            user_data,
        );
    }
}

/// glibc `qsort` over `data`.
///
/// # Safety
/// `cmp` may be called with two pointers into `data` until this returns.
#[inline(never)]
pub unsafe fn qsort(data: &mut [u32], cmp: Cmp) {
    // SAFETY: as in `qsort_r`.
    unsafe {
        libc::qsort(
            data.as_mut_ptr().cast(),
            data.len(),
            size_of::<u32>(),
            Some(cmp),
        );
    }
}

/// A C-ABI function that receives a callback and user data and calls back
/// zero times (as `qsort_r` on an empty array would, without its cost).
#[inline(never)]
pub extern "C" fn zero_calls_r(cmp: Option<CmpR>, user_data: *mut c_void) {
    black_box(cmp);
    black_box(user_data);
}

/// As [`zero_calls_r`], for a callback without user data.
#[inline(never)]
pub extern "C" fn zero_calls(cmp: Option<Cmp>) {
    black_box(cmp);
}

/// What a variant does with its callback once it is built.
pub trait CCall {
    /// Hands a `qsort_r`-style callback to C.
    ///
    /// # Safety
    /// `cmp` may be called with `user_data` until this returns.
    unsafe fn call_r(self, cmp: CmpR, user_data: *mut c_void);
    /// Hands a `qsort`-style callback to C.
    ///
    /// # Safety
    /// `cmp` may be called until this returns.
    unsafe fn call(self, cmp: Cmp);
}

/// Sort this array: `qsort_r`/`qsort`.
#[derive(Debug)]
pub struct Sort<'a>(pub &'a mut [u32]);

impl CCall for Sort<'_> {
    #[inline(always)]
    unsafe fn call_r(self, cmp: CmpR, user_data: *mut c_void) {
        // SAFETY: forwarded from the caller.
        unsafe { qsort_r(self.0, cmp, user_data) }
    }
    #[inline(always)]
    unsafe fn call(self, cmp: Cmp) {
        // SAFETY: forwarded from the caller.
        unsafe { qsort(self.0, cmp) }
    }
}

/// Hand the callback to C, which never calls it: [`zero_calls_r`].
#[derive(Debug)]
pub struct ZeroCalls;

impl CCall for ZeroCalls {
    #[inline(always)]
    unsafe fn call_r(self, cmp: CmpR, user_data: *mut c_void) {
        zero_calls_r(Some(cmp), user_data);
    }
    #[inline(always)]
    unsafe fn call(self, cmp: Cmp) {
        zero_calls(Some(cmp));
    }
}
