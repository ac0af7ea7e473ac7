use std::ffi::{c_int, c_void};

use ffi_callback::callback;

#[derive(Debug)]
struct Oops;

// `keep_error` says where an `Err` goes: this body cannot fail.
#[callback(on_error = -1, keep_error = false)]
extern "C" fn cannot_fail(n: c_int) -> c_int {
    n
}

// A callback type's `keep_error = EXPR` reads `e`, whose type it must know.
#[callback(on_error = -1, keep_error = e.is_fatal())]
type Untyped = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

// With `raise`, an `Err` goes to `on_raise` and the raise: nothing is kept.
#[callback(keep_error = false, raise = stop())]
extern "C" fn raising(n: c_int) -> Result<c_int, Oops> {
    Ok(n)
}

fn stop() {}

// On a set, `keep_error` serves the entries that return a `Result`: none
// does here.
#[callback(keep_error = false)]
trait Events {
    unsafe extern "C" fn start(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

// An entry's own `keep_error`, on an entry that cannot fail.
#[callback(on_error = -1)]
trait Reader {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void) -> Result<c_int, Oops>;
    #[callback(keep_error = false)]
    unsafe extern "C" fn close(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

// A misspelling.
#[callback(on_error = -1, keep_errors = false)]
extern "C" fn misspelt(n: c_int) -> Result<c_int, Oops> {
    Ok(n)
}

fn main() {}
