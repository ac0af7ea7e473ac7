use ffi_callback::callback;
use std::ffi::{c_int, c_void};

/// `String` has no `From<c_int>` or `TryFrom<c_int>`.
#[callback]
type Log = unsafe extern "C" fn(#[user_data] ud: *mut c_void, #[into(String)] level: c_int);

fn main() {}

/// Nor an unnamed parameter's.
#[callback]
type Unnamed = unsafe extern "C" fn(#[user_data] ud: *mut c_void, #[into(Vec<u8>)] c_int);

/// Nor a set method's.
#[callback]
trait Sink {
    unsafe extern "C" fn write(&mut self, #[user_data] ud: *mut c_void, #[into(String)] n: c_int);
}
