//! A `reentrant, send` callback may be entered again while it runs, from
//! another thread: an `Fn + Send` closure that is not `Sync` would race.
use ffi_callback::callback;
use std::cell::Cell;
use std::ffi::{c_int, c_void};

#[callback(reentrant, send)]
type Progress = unsafe extern "C" fn(#[user_data] ud: *mut c_void, done: c_int) -> c_int;

fn main() {
    let calls = Cell::new(0u32);
    let _ = Progress::boxed(move |done| {
        calls.set(calls.get() + 1);
        done
    });
}
