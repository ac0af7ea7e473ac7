//! A slot-less type recreates its closure from nothing, on any thread: a
//! zero-sized capture that is `Send` but not `Sync` (shared by calls on two
//! threads at once) must not get through either.
use ffi_callback::callback;
use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::marker::PhantomData;

#[callback]
type Compare = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

/// Zero-sized, `Copy` and `Send`, but not `Sync`.
#[derive(Clone, Copy)]
struct NotShared(PhantomData<Cell<()>>);

fn not_shared() {
    let marker = NotShared(PhantomData);
    let _ = Compare::new(move |_a, _b| {
        let _proof = marker;
        0
    });
}

fn main() {
    not_shared();
}
