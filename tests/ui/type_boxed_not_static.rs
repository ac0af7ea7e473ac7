use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
type IdleFunc = unsafe extern "C" fn(#[user_data] data: *mut c_void) -> i32;

fn main() {
    let mut count = 0;
    let raw = IdleFunc::boxed(|| {
        count += 1;
        0
    })
    .into_raw();
    let _ = raw;
}
