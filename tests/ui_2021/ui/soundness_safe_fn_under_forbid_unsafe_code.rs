//! Edition-2021 twin of tests/ui/soundness_safe_fn_under_forbid_unsafe_code.rs.
//! `unsafe(safe_fn)` is the user's promise that every call passes valid user
//! data: it trips `unsafe_code`, so a `#![forbid(unsafe_code)]` crate cannot
//! make it.
#![forbid(unsafe_code)]

use ffi_callback::callback;
use std::ffi::c_void;

#[callback(unsafe(safe_fn), on_panic = abort)]
extern "C" fn start(#[user_data] name: Box<String>) -> *mut c_void {
    println!("{name}");
    std::ptr::null_mut()
}

fn main() {}
