use ffi_callback::callback;
use std::ffi::{c_int, c_void};

unsafe extern "C" fn context_user_data(ctx: *mut c_void) -> *mut c_void {
    ctx
}

#[callback(user_data = context_user_data(ctx))]
type ScalarFunc = unsafe extern "C" fn(ctx: *mut c_void, n: c_int, #[user_data] extra: *mut c_void);

fn main() {}
