// Issue 10: a callback type's trampoline is reachable only from a
// constructed holder; no safe fn conjures values. Its getters are `unsafe`
// (the trampoline trusts its user data, and under `unsafe(safe_fn)` is a
// safe fn), so safe code cannot take it without a holder.
use ffi_callback::__private::{OnceTrampoline, Trampoline};
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback(unsafe(safe_fn))]
type Visit = extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

fn main() {
    let lent = <Visit<fn(c_int) -> c_int> as Trampoline<c_int>>::trampoline::<true>();
    let once = <Visit<fn(c_int) -> c_int> as OnceTrampoline<c_int>>::trampoline();
    lent(std::ptr::null_mut(), 1);
    once(std::ptr::null_mut(), 2);
}
