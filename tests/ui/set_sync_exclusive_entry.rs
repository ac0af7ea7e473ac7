// A `sync` set's entry points may run at once on several threads: an entry
// taking `&mut self` would have its overlapping calls refused (aborting, by
// `sync`'s default policy), as an `FnMut` closure for a `sync` callback type
// is refused at compile time. `&self` entries (state in a `Mutex` or
// atomics) compile.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback(sync)]
pub trait Pool {
    unsafe extern "C" fn work(&mut self, #[user_data] ud: *mut c_void) -> c_int;
    unsafe extern "C" fn peek(&self, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {}
