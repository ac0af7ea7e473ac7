// `#[into(..)]` on a fn's parameters follows the callback types' rules:
// the user data is received as its own type, a parameter converts into one
// type, a slice needs its length and only a slice takes one, a borrow takes
// no named lifetime, and its referent is what C can point at.
use ffi_callback::callback;
use std::ffi::{c_char, c_int};

#[callback]
extern "C" fn log(#[into(i64)] level: c_int, #[user_data] #[into(usize)] count: &mut u32) {
    *count += level as u32;
}

#[callback]
extern "C" fn twice(#[into(i64)] #[into(u64)] level: c_int) -> c_int {
    level as c_int
}

#[callback]
extern "C" fn lengths(
    #[into(&[u8])] data: *const c_char,
    #[into(&std::ffi::CStr, len = 4)] name: *const c_char,
) -> usize {
    let _ = (data, name);
    0
}

#[callback]
extern "C" fn keep(#[into(&'static std::ffi::CStr)] name: *const c_char, #[into(&Vec<u8>)] bytes: *const u8) {
    let _ = (name, bytes);
}

fn main() {}
