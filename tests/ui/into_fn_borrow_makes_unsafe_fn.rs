// Borrowing a parameter trusts C's pointer, so the fn is an `unsafe extern`
// fn, as with user data: a binding that demands a safe fn pointer type
// gets it only through `#[callback(unsafe(safe_fn))]`.
use ffi_callback::callback;
use std::ffi::{c_char, CStr};

#[callback]
extern "C" fn path_len(#[into(&CStr)] path: *const c_char) -> usize {
    path.to_bytes().len()
}

fn main() {
    let _: extern "C" fn(*const c_char) -> usize = path_len;
}
