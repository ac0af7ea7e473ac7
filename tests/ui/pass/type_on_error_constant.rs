//! A callback type's `on_error` that reads no `e` (a constant, or the C
//! parameters) needs no `error = Type`: its closures fail with any error,
//! and may return `bool` or `Ordering` in the `Result`.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback(fallback = -1, on_error = -2)]
type Callout = unsafe extern "C" fn(n: u32, #[user_data] data: *mut c_void) -> c_int;

#[callback(on_error = code, keep_error = code > 0)]
type Step = unsafe extern "C" fn(code: c_int, #[user_data] data: *mut c_void) -> c_int;

#[derive(Debug)]
struct MyError;

fn main() {
    let _: Result<(), MyError> = Callout::try_scope(|n| if n > 3 { Err(MyError) } else { Ok(0) }, |_, _| ());
    let _: Result<(), std::io::Error> = Callout::try_scope(|n| Ok(n % 2 == 0), |_, _| ());
    let _: Result<(), String> = Step::try_scope(|code| -> Result<c_int, _> { Err(format!("{code}")) }, |_, _| ());
}
