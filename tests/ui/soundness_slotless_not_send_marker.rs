//! A slot-less type recreates its closure from nothing, on any thread: a
//! zero-sized `!Send` capture (a main-thread marker) must not get through.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};
use std::marker::PhantomData;

#[callback]
type Compare = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

/// Proves that the code holding it runs on the main thread: zero-sized,
/// `Copy`, and `!Send`.
#[derive(Clone, Copy)]
struct MainThreadMarker(PhantomData<*const ()>);

fn main() {
    let marker = MainThreadMarker(PhantomData);
    let _ = Compare::new(move |_a, _b| {
        let _proof = marker;
        0
    });
}
