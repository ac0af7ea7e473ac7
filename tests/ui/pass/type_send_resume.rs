//! `send, on_panic = resume`, written explicitly: for C objects that move
//! between threads but call back on the thread that drives them.
use ffi_callback::callback;
use std::ffi::c_void;

#[callback(send, on_panic = resume)]
type IdleFunc = unsafe extern "C" fn(#[user_data] data: *mut c_void) -> i32;

fn main() {
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    let boxed = IdleFunc::boxed(move || counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    // A `send` holder may move to another thread.
    std::thread::spawn(move || drop(boxed)).join().unwrap();
}
