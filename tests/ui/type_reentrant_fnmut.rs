use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback(reentrant)]
type ExecRow = unsafe extern "C" fn(#[user_data] arg: *mut c_void, n: c_int) -> c_int;

fn main() {
    let mut total = 0;
    ExecRow::scope(
        |n| {
            total += n;
            0
        },
        |f, ud| unsafe { f(ud, 1) },
    );
}
