use ffi_callback::callback;
use std::ffi::{c_char, c_int, c_void};

/// A slice needs its length, and only a slice takes one.
#[callback]
type Lengths = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&[u8])] data: *const c_char,
    #[into(&std::ffi::CStr, len = n)] name: *const c_char,
    #[into(&[u8], length = n)] other: *const c_char,
    n: usize,
);

/// Its elements are what C wrote.
#[callback]
type Elements = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&[&std::ffi::CStr], len = n)] names: *const *const c_char,
    n: usize,
);

/// `&mut [T]` only from a `*mut` pointer; `len` is a `usize`.
#[callback]
type Mutable = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&mut [u8], len = n as usize)] buf: *const c_char,
    #[into(&[u8], len = n)] data: *const c_char,
    n: c_int,
);

fn main() {}
