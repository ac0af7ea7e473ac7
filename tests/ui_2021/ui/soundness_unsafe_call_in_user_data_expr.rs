//! Edition-2021 twin of tests/ui/soundness_unsafe_call_in_user_data_expr.rs.
//! `user_data = EXPR` is compiled as the user wrote it, in a safe context:
//! an unsafe call needs the user's own `unsafe { }`, in both forms.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[repr(C)]
struct Ctx {
    user_data: *mut c_void,
}

unsafe extern "C" fn sqlite3_user_data(ctx: *mut Ctx) -> *mut c_void {
    unsafe { (*ctx).user_data }
}

#[callback(user_data = sqlite3_user_data(ctx))]
extern "C" fn step(ctx: *mut Ctx, #[user_data] rows: &mut Vec<c_int>) -> c_int {
    let _ = ctx;
    rows.push(1);
    0
}

#[callback(user_data = sqlite3_user_data(ctx))]
type ScalarFunc = unsafe extern "C" fn(ctx: *mut Ctx, n: c_int) -> c_int;

fn main() {}
