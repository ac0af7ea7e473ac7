// A holder from `new` of a type that C calls on the caller's thread cannot
// move to another thread: dropped there while C calls it, its state word
// (not atomic) would race with the call. `send`/`sync` types' holders move.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
type Hook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

fn main() {
    let hook = Hook::new(|n| n + 1);
    std::thread::spawn(move || drop(hook));
}
