//! Edition-2021 twin of tests/ui/soundness_body_cannot_allow_unsafe_op.rs.
//! The body is compiled in a safe context: its own
//! `#![allow(unsafe_op_in_unsafe_fn)]` cannot lift the shim's denial, so an
//! unsafe call still needs an `unsafe { }` block.
use ffi_callback::callback;
use std::ffi::c_int;

unsafe fn read_counter(counter: *const c_int) -> c_int {
    unsafe { *counter }
}

#[callback]
extern "C" fn visit(n: c_int, #[user_data] seen: &mut Vec<*const c_int>) -> c_int {
    #![allow(unsafe_op_in_unsafe_fn)]
    let first = seen[0];
    n + read_counter(first)
}

fn main() {}
