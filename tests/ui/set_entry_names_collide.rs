// Entries whose names make the same constant (`fooBar`, `foobar`: `FOOBAR`)
// or the same function-pointer type (`fooBar`, `foo_bar`: `IoFooBarFn`).
#![allow(non_snake_case)]
use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
pub trait Io {
    unsafe extern "C" fn fooBar(&mut self, #[user_data] ud: *mut c_void) -> isize;
    unsafe extern "C" fn foobar(&mut self, #[user_data] ud: *mut c_void) -> isize;
    unsafe extern "C" fn foo_bar(&mut self, #[user_data] ud: *mut c_void) -> isize;
}

fn main() {}
