// What `#[into(..)]` makes on a fn must exist: a `TryFrom` of the C type
// (with a `Debug` error), a borrow from a pointer (`&mut` from a `*mut`
// only), and the body receives the converted type, not the C one.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

pub struct Pid(c_int);

#[callback]
extern "C" fn on_exit(#[into(Pid)] pid: c_int) -> c_int {
    pid.0
}

#[callback]
extern "C" fn bump(#[into(&mut u32)] counter: *const u32) {
    *counter += 1;
}

#[callback]
extern "C" fn raw_in_body(#[into(&u32)] value: *const c_void) -> u32 {
    let raw: *const c_void = value;
    raw as usize as u32
}

fn main() {}
