use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
type ExecRow = unsafe extern "C" fn(#[user_data] arg: *mut c_void, n: c_int) -> c_int;

fn main() {
    let mut total: u64 = 0;
    let cb = ExecRow::new(|n: u64| {
        total += n;
        0
    });
    let _ = cb.function();
}
