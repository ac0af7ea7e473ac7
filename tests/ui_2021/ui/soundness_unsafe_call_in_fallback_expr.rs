//! Edition-2021 twin of tests/ui/soundness_unsafe_call_in_fallback_expr.rs.
//! `fallback = EXPR` is compiled as the user wrote it, in a safe context:
//! an unsafe call needs the user's own `unsafe { }`, in both forms.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

/// Stands in for a C library's `last_error()`, which may only be called
/// from inside its callbacks.
unsafe fn last_error() -> c_int {
    -1
}

#[callback(fallback = last_error())]
extern "C" fn visit(n: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(n);
    0
}

#[callback(fallback = last_error())]
type Each = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

fn main() {}
