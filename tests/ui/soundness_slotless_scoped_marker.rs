//! A slot-less type recreates its closure from nothing, at any time: a
//! zero-sized capture that borrows (a lock-scoped proof token, used after
//! its scope) must not get through.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};
use std::marker::PhantomData;

#[callback]
type Compare = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

/// Zero-sized, `Copy`, `Send` and `Sync`, but valid only while the lock it
/// was made from is held.
#[derive(Clone, Copy)]
struct Scoped<'a>(PhantomData<&'a ()>);

impl<'a> Scoped<'a> {
    fn new(_lock: &'a ()) -> Self {
        Scoped(PhantomData)
    }
}

fn scoped(lock: &()) {
    let token = Scoped::new(lock);
    let _ = Compare::new(move |_a, _b| {
        let _proof = token;
        0
    });
}

fn main() {
    scoped(&());
}
